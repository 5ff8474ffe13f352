// Package agent is the agent loop: it builds the model's context from the
// deployment's system prompt, the thread's history and the run's transcript,
// streams a model call, runs the tools the model asks for, takes in steering
// input before each model call, and records every step so that a run resumes
// exactly where it stopped after a crash.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hermhq/herm/internal/eventlog"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/memory"
	"github.com/hermhq/herm/internal/sandbox"
	"github.com/hermhq/herm/internal/secrets"
	"github.com/hermhq/herm/internal/store"
	"github.com/hermhq/herm/internal/tools"
)

// Causes with which the runner cancels a run's context.
var (
	// ErrCancelled: the run was cancelled (API cancel, interrupt, deletion);
	// the loop ends it as cancelled.
	ErrCancelled = errors.New("run cancelled")
	// ErrStopped: the server is shutting down or lost the lease; the loop
	// stops without ending the run, so that it is resumed later.
	ErrStopped = errors.New("runner stopped")
)

// Models resolves "provider/model" names.
type Models interface {
	Resolve(fullName string) (llm.Provider, string, error)
}

// Options tune the loop. Zero values mean defaults.
type Options struct {
	// MaxSteps is the most model calls in one run (default 100); a run that
	// reaches it ends with stop_reason max_steps.
	MaxSteps int
	// MaxTokens is the output token limit per model call (0 = provider default).
	MaxTokens int
	// HistoryMessages is how many of the thread's latest messages (or run
	// turns) from
	// earlier runs are sent to the model (default 200).
	HistoryMessages int
	// OnModelCall, when set, is called after every model call (metrics).
	OnModelCall func(model string, u llm.Usage, err error)
	// PreviewLimit is the most bytes of a tool result the model sees
	// (default 16 KiB); a longer result is saved whole with Spill and the
	// model gets a preview and the file's path.
	PreviewLimit int
	// Spill saves a tool call's full output in the deployment's workspace
	// (.herm/outputs/<tool_call_id>.txt) and returns its path. Without it,
	// long results are cut at PreviewLimit.
	Spill func(ctx context.Context, d *herm.Deployment, toolCallID, content string) (string, error)
	// SaveFile saves a binary part of a tool call's result in the
	// deployment's workspace and returns its path there (nil: the model is
	// told the file could not be kept).
	SaveFile func(ctx context.Context, d *herm.Deployment, toolCallID string, f tools.File) (string, error)
	// Prices gives model calls their cost (nil: every cost is unknown).
	Prices llm.Prices
	// ContextWindows gives models' context sizes (default
	// llm.DefaultContextWindows); CompactAt is the share of the window
	// past which older context is summarized (default 0.75); KeepRecent is
	// how many recent turns always stay verbatim (default 4).
	ContextWindows llm.ContextWindows
	CompactAt      float64
	KeepRecent     int
	// Redactor returns what replaces the deployment's secret values (and
	// their common encodings) in text with [REDACTED:NAME] (nil: no
	// secrets). It is applied to tool results, the agent's messages and
	// their token deltas before they are stored or sent anywhere.
	Redactor func(ctx context.Context, d *herm.Deployment) *secrets.Redactor
	// SystemExtra returns text added to the deployment's system prompt for
	// a run (the skills catalog); nil: none.
	SystemExtra func(ctx context.Context, d *herm.Deployment) string
	// Attachments saves messages' attachments in the workspace and reads
	// images back for the model (nil: a message with attachments ends its
	// run with an error).
	Attachments AttachmentStore
	// SteeringTimeout is how long a steering request waits for a human
	// before it resolves as timeout, a deny (default 24 h).
	SteeringTimeout time.Duration
	// Memories and Workspace are what the memory observer (Observe)
	// writes through: the memory store and a deployment's workspace. The
	// observer does nothing without both, nor without MemoryObserver (the
	// server's switch).
	MemoryObserver bool
	Memories       *memory.Store
	Workspace      func(ctx context.Context, d *herm.Deployment) (*sandbox.Workspace, error)
	// MemoryModel is the model ("provider/model") the observer asks
	// ("": the deployment's).
	MemoryModel string
	// ObserveBytes is how much of a run's end the observer reads (default
	// 24 KiB).
	ObserveBytes int
	// Dreaming is the server's switch for dreams (Dream does nothing
	// without it); they use MemoryModel too.
	Dreaming bool
}

// Agent runs the loop.
type Agent struct {
	store  store.Store
	log    *eventlog.Log
	models Models
	tools  *tools.Catalog
	ids    *herm.IDGen
	now    func() time.Time
	logger *slog.Logger
	opts   Options
	// dreamMu serialises this node's applications and discards of dreams
	// (their checks of the memories and their writes).
	dreamMu sync.Mutex
}

// New returns an Agent whose runs get the tools cat offers.
func New(s store.Store, log *eventlog.Log, models Models, cat *tools.Catalog, ids *herm.IDGen, now func() time.Time, logger *slog.Logger, opts Options) *Agent {
	if opts.MaxSteps <= 0 {
		opts.MaxSteps = 100
	}
	if opts.PreviewLimit <= 0 {
		opts.PreviewLimit = 16 << 10
	}
	if opts.SteeringTimeout <= 0 {
		opts.SteeringTimeout = 24 * time.Hour
	}
	if opts.ContextWindows == nil {
		opts.ContextWindows = llm.DefaultContextWindows()
	}
	if opts.CompactAt <= 0 || opts.CompactAt > 1 {
		opts.CompactAt = 0.75
	}
	if opts.KeepRecent <= 0 {
		opts.KeepRecent = 4
	}
	if opts.ObserveBytes <= 0 {
		opts.ObserveBytes = 24 << 10
	}
	if opts.HistoryMessages <= 0 {
		opts.HistoryMessages = 200
	}
	if now == nil {
		now = time.Now
	}
	return &Agent{store: s, log: log, models: models, tools: cat, ids: ids, now: now, logger: logger, opts: opts}
}

// exec is the state of one execution of a run.
type exec struct {
	a     *Agent
	run   *herm.Run
	cfg   *herm.Deployment
	owner string
	tr    *transcript // the run's steps; changed only by a committed change
	tools map[string]tools.Tool
	perms map[string]string // the catalog's effective permission of each offered tool
	// custom are the deployment's custom tools offered to the run: their
	// calls wait for the client (see customtools.go).
	custom map[string]herm.CustomTool
	specs  []llm.ToolSpec

	redact       func(string) string // secret values out (identity when none)
	redactor     *secrets.Redactor   // the same, for streams (nil when none)
	system       string              // the system prompt with this run's additions
	images       bool                // the model takes image input
	calib        float64             // provider tokens per estimated token, from the last call
	pendingUsage []llm.Usage         // summarizing calls not yet recorded
	usageMu      sync.Mutex          // guards unrecorded against subagents in a parallel batch
	unrecorded   herm.Usage          // usage of calls whose events went out (subagents'), recorded with the next change
	output       *llm.OutputFormat   // the run's output schema for native structured output (nil: none, or not native)
	outputNote   string              // the system prompt's instructions for the run's typed result ("" without one)
}

// Execute drives run (leased by owner, running, configured by cfg — the
// deployment at the run's config version) until it ends. It returns nil once
// the run's final status is recorded, and an error when it stopped without
// ending the run: ctx cancelled with ErrStopped as its cause, a lost lease
// (herm EConflict) or a store failure. A ctx cancelled with ErrCancelled ends
// the run as cancelled.
func (a *Agent) Execute(ctx context.Context, run *herm.Run, cfg *herm.Deployment, owner string) error {
	ctx = herm.WithRun(ctx, run.ThreadID, run.ID) // workspace changes are this run's
	// Not cancellable: a run claimed with a cancel already requested must
	// still get as far as ending itself cancelled.
	steps, err := a.store.ListSteps(context.WithoutCancel(ctx), run.ID)
	if err != nil {
		return a.stopped(ctx, err)
	}
	tr, err := newTranscript(steps)
	if err != nil {
		return err
	}
	x := &exec{a: a, run: run, cfg: cfg, owner: owner, tr: tr, tools: make(map[string]tools.Tool), custom: map[string]herm.CustomTool{}, redact: func(s string) string { return s }}
	if a.opts.Redactor != nil && len(cfg.Secrets) > 0 {
		if r := a.opts.Redactor(ctx, cfg); r != nil {
			x.redact, x.redactor = r.Replace, r
		}
	}
	// The catalog decides the run's tools; ask_human and subagents have no
	// Tool (the loop runs them).
	offered, warnings := a.tools.Run(ctx, cfg)
	x.perms = make(map[string]string, len(offered))
	for _, e := range offered {
		if e.Tool != nil {
			x.tools[e.Name] = e.Tool
		}
		x.perms[e.Name] = e.Permission
		x.specs = append(x.specs, e.Spec)
	}
	x.specs = append(x.specs, x.customSpecs()...)
	for _, w := range warnings {
		a.log.Emit(x.event(herm.EventWarning, map[string]any{"message": x.redact(w), "source": "mcp"}))
	}
	if provider, model, err := a.models.Resolve(cfg.Model); err == nil {
		x.images = llm.AcceptsImages(provider, model)
	}
	x.system = cfg.SystemPrompt
	if a.opts.SystemExtra != nil {
		x.system += x.redact(a.opts.SystemExtra(ctx, cfg)) // memories, skills and project context come from the workspace
	}
	x.system += "\n\n" + Now(a.now(), cfg.Timezone)
	if len(run.OutputSchema) > 0 {
		if err := x.outputSetup(); err != nil {
			_, err := x.finish(ctx, herm.RunError, herm.StopError, &herm.ErrorInfo{Code: herm.EOutputInvalid, Message: "the run's output schema cannot be used: " + err.Error()})
			return err
		}
	}
	err = x.loop(ctx)
	if errors.Is(err, errWaiting) {
		return nil // paused: the run's state is recorded; an answer resumes it
	}
	if errors.Is(err, errCancelled) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		x.cancelAnnounced(fctx)
		_, err = x.finish(fctx, herm.RunCancelled, herm.StopCancelled, nil)
	}
	return err
}

// cancelAnnounced gives the last turn's calls whose tool_call event went
// out with a steering request, and that never ran, a cancelled result: a
// client never sees a call without its end.
func (x *exec) cancelAnnounced(ctx context.Context) {
	for _, c := range x.tr.unfinishedCalls() {
		if _, err := x.a.store.SteeringRequestFor(ctx, x.run.ID, c.ID); err != nil {
			continue // not announced (or not to be found): nothing to close
		}
		_, origin, _ := x.toolFor(c)
		if err := x.recordResult(ctx, c, origin, tools.Result{Content: "the tool call was cancelled", IsError: true}); err != nil {
			// The run still ends cancelled.
			x.a.logger.Warn("record a cancelled call", "run_id", x.run.ID, "tool_call_id", c.ID, "err", err)
			return
		}
	}
}

func (x *exec) loop(ctx context.Context) error {
	if err := x.recoverInterrupted(ctx); err != nil {
		return x.a.stopped(ctx, err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return x.a.stopped(ctx, err)
		}
		// Tool calls of the last model turn that have no result yet.
		if calls := x.tr.unfinishedCalls(); len(calls) > 0 {
			if err := x.callTools(ctx, calls); err != nil {
				return x.a.stopped(ctx, err)
			}
			continue
		}
		taken, err := x.takeInput(ctx)
		if ae := (*attachmentError)(nil); errors.As(err, &ae) {
			_, err := x.finish(ctx, herm.RunError, herm.StopError, &herm.ErrorInfo{Code: "attachment_error", Message: ae.msg})
			return err
		}
		if err != nil {
			return x.a.stopped(ctx, err)
		}
		last := x.tr.last()
		if !taken && last != nil && last.Kind == herm.StepModel {
			// The model finished its turn with no tool calls and nothing
			// new arrived: the run is done, unless input arrives in the
			// meantime (finish refuses then, and we loop). A run with an
			// output schema completes only with a valid answer.
			done, err := x.complete(ctx, last)
			if err != nil || done {
				return err
			}
			continue
		}
		if last == nil {
			// Nothing to answer: a run whose input was deleted with its
			// thread, or a bug. End it clearly rather than call the model
			// with an empty conversation.
			_, err := x.finish(ctx, herm.RunError, herm.StopError, &herm.ErrorInfo{Code: "no_input", Message: "the run has no input message"})
			return err
		}
		if x.run.Usage.ModelCalls >= int64(x.a.opts.MaxSteps) {
			_, err := x.finish(ctx, herm.RunCompleted, herm.StopMaxSteps, nil)
			return err
		}
		if e, err := x.overBudget(ctx); err != nil {
			return x.a.stopped(ctx, err)
		} else if e != nil {
			_, err := x.finish(ctx, herm.RunError, herm.StopError, e)
			return err
		}
		if err := x.modelTurn(ctx); err != nil {
			var me *modelError
			if errors.As(err, &me) {
				_, err := x.finish(ctx, herm.RunError, herm.StopError, &herm.ErrorInfo{Code: "model_error", Message: me.Error()})
				return err
			}
			return x.a.stopped(ctx, err)
		}
	}
}

// stopped turns an interruption into Execute's result: a cancel ends the run
// as cancelled; anything else leaves it for a later resume.
func (a *Agent) stopped(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), ErrCancelled) {
		return errCancelled
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ErrStopped, context.Cause(ctx))
	}
	return err
}

// errCancelled tells Execute's caller chain that the run must be finished as
// cancelled; Execute handles it below.
var errCancelled = errors.New("cancel requested")

// recoverInterrupted reports tool calls that started before a crash and never
// finished as interrupted. They are never run again: a tool may have had
// effects that must not happen twice.
func (x *exec) recoverInterrupted(ctx context.Context) error {
	for _, c := range x.tr.interruptedCalls() {
		origin := tools.OriginBuiltin
		if t, ok := x.tools[c.Name]; ok {
			origin = t.Origin()
		}
		res := tools.Result{
			Content: "The tool call was interrupted: the server stopped while it was running, and it was not run again. " +
				"Check its effects before retrying it.",
			IsError: true,
		}
		if err := x.recordResult(ctx, c, origin, res); err != nil {
			return err
		}
	}
	return nil
}

func (x *exec) event(typ string, fields any) *herm.Event {
	return herm.NewEvent(x.run.DeploymentID, x.run.ThreadID, x.run.ID, typ, fields)
}

// AttachmentStore keeps attachments in a deployment's workspace.
type AttachmentStore interface {
	// Save fetches (under the deployment's egress policy) or decodes an
	// attachment and writes it under attachments/<run_id>/.
	Save(ctx context.Context, d *herm.Deployment, runID string, n int, a herm.Attachment) (herm.SavedAttachment, error)
	// Read returns a saved attachment's bytes.
	Read(ctx context.Context, d *herm.Deployment, path string) ([]byte, error)
}

// attachmentError is an attachment that could not be saved: the run ends
// with an error naming it.
type attachmentError struct{ msg string }

func (e *attachmentError) Error() string { return e.msg }

// takeInput moves the run's pending messages (its first message, steering
// input) into the transcript, their attachments saved in the workspace.
// It reports whether it took any.
func (x *exec) takeInput(ctx context.Context) (bool, error) {
	msgs, err := x.a.store.PendingMessages(ctx, x.run.ID)
	if err != nil || len(msgs) == 0 {
		return false, err
	}
	inputs := make([]herm.StepInputData, len(msgs))
	saved := x.tr.attachments
	for i, m := range msgs {
		inputs[i] = herm.StepInputData{MessageID: m.ID, Content: m.Content}
		for j, a := range m.Attachments {
			if x.a.opts.Attachments == nil {
				return false, &attachmentError{"attachments are not supported by this server"}
			}
			sa, err := x.a.opts.Attachments.Save(ctx, x.cfg, x.run.ID, saved+1, a)
			if err != nil {
				if ctx.Err() != nil {
					return false, ctx.Err()
				}
				what := a.URL
				if strings.HasPrefix(what, "data:") {
					what = "a data URL"
				}
				return false, &attachmentError{fmt.Sprintf("attachment %d of the message (%s, %s) could not be saved: %s", j+1, a.Type, clip(what, 200), herm.ErrorMessage(err))}
			}
			saved++
			inputs[i].Attachments = append(inputs[i].Attachments, sa)
		}
	}
	err = x.record(ctx, func(q store.Querier, c *change) ([]*herm.Event, error) {
		for i, m := range msgs {
			if err := q.TakeMessage(ctx, m.ID, x.a.now().UTC()); err != nil {
				return nil, err
			}
			if err := c.step(ctx, q, herm.StepInput, inputs[i]); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	if err != nil {
		return false, err
	}
	return true, nil
}

// toolFor returns a call's tool (nil when unknown), origin and arguments.
func (x *exec) toolFor(c herm.StepToolCall) (tools.Tool, string, json.RawMessage) {
	t := x.tools[c.Name]
	origin := tools.OriginBuiltin
	if x.isCustom(c) {
		origin = herm.OriginCustom
	} else if t != nil {
		origin = t.Origin()
	} else {
		_, origin = herm.SplitToolName(c.Name) // an MCP tool of a server that is not there now
	}
	args := c.Arguments
	if len(args) == 0 {
		args = json.RawMessage(`{}`)
	}
	return t, origin, args
}

// interactive reports a call that may pause for a human: it runs alone.
func (x *exec) interactive(c herm.StepToolCall) bool {
	return x.needsHuman(c, x.tools[c.Name] != nil) != ""
}

// callTools runs a model turn's unanswered calls: consecutive calls that
// need no human run concurrently; one that may pause runs alone. Results
// are recorded in the model's order.
func (x *exec) callTools(ctx context.Context, all []herm.StepToolCall) error {
	// Custom calls last, all together (see customtools.go).
	var calls, custom []herm.StepToolCall
	for _, c := range all {
		if x.isCustom(c) {
			custom = append(custom, c)
		} else {
			calls = append(calls, c)
		}
	}
	for i := 0; i < len(calls); {
		if x.interactive(calls[i]) {
			if err := x.callTool(ctx, calls[i]); err != nil {
				return err
			}
			i++
			continue
		}
		j := i
		for j < len(calls) && !x.interactive(calls[j]) {
			j++
		}
		if err := x.callBatch(ctx, calls[i:j], false); err != nil {
			return err
		}
		i = j
	}
	if len(custom) > 0 {
		return x.callCustom(ctx, custom)
	}
	return nil
}

// callTool runs one tool call: the start is recorded before the tool runs,
// the result after, so that a crash in between is detectable.
func (x *exec) callTool(ctx context.Context, c herm.StepToolCall) error {
	t, origin, args := x.toolFor(c)
	announced := false
	if kind := x.needsHuman(c, t != nil); kind != "" {
		res, proceed, err := x.steer(ctx, c, kind, args)
		if err != nil {
			return err
		}
		if !proceed {
			return x.recordResult(ctx, c, origin, res)
		}
		announced = true // its tool_call event came with the steering request
	}
	return x.callBatch(ctx, []herm.StepToolCall{c}, announced)
}

// callBatch records the calls' starts (one transaction, in order), runs them
// concurrently, and records their results in order. announced: their
// tool_call events were emitted already (with a steering request).
func (x *exec) callBatch(ctx context.Context, calls []herm.StepToolCall, announced bool) error {
	err := x.record(ctx, func(q store.Querier, ch *change) ([]*herm.Event, error) {
		var evs []*herm.Event
		for _, c := range calls {
			_, origin, args := x.toolFor(c)
			if err := ch.step(ctx, q, herm.StepToolStart, herm.StepToolData{ToolCallID: c.ID, Tool: c.Name, Origin: origin}); err != nil {
				return nil, err
			}
			if !announced {
				evs = append(evs, x.event(herm.EventToolCall, map[string]any{
					"tool_call_id": c.ID, "tool": x.bareName(c.Name), "origin": origin, "arguments": args,
				}))
			}
		}
		return evs, nil
	})
	if err != nil {
		return err
	}

	results := make([]tools.Result, len(calls))
	if len(calls) == 1 {
		results[0] = x.runTool(ctx, calls[0])
	} else {
		var wg sync.WaitGroup
		for i, c := range calls {
			wg.Go(func() { results[i] = x.runTool(ctx, c) })
		}
		wg.Wait()
	}
	if ctx.Err() != nil {
		// Cancelled or stopping: on cancel the calls are reported as
		// cancelled; on shutdown their starts stay unanswered and the
		// resume reports them as interrupted.
		if errors.Is(context.Cause(ctx), ErrCancelled) {
			for _, c := range calls {
				_, origin, _ := x.toolFor(c)
				res := tools.Result{Content: "the tool call was cancelled", IsError: true}
				if err := x.recordResult(context.WithoutCancel(ctx), c, origin, res); err != nil {
					return err
				}
			}
		}
		return ctx.Err()
	}
	// Events the tools emitted (subagents) come before their results:
	// recordResult flushes them first.
	for i, c := range calls {
		_, origin, _ := x.toolFor(c)
		if err := x.recordResult(ctx, c, origin, x.preview(ctx, c.ID, results[i])); err != nil {
			return err
		}
	}
	return nil
}

// runTool runs one started call and returns its result (errors included).
func (x *exec) runTool(ctx context.Context, c herm.StepToolCall) tools.Result {
	t, _, args := x.toolFor(c)
	_, subagents := x.perms[Subagents] // offered to this run (not disabled)
	switch {
	case c.Name == Subagents && !subagents:
		return tools.Result{Content: fmt.Sprintf("unknown tool %q", c.Name), IsError: true}
	case c.Name == Subagents && (!json.Valid(args) || args[0] != '{'):
		return tools.Result{Content: "the tool arguments are not a JSON object", IsError: true}
	case c.Name == Subagents:
		return x.subagents(ctx, c, args)
	case t == nil:
		return tools.Result{Content: fmt.Sprintf("unknown tool %q", c.Name), IsError: true}
	case !json.Valid(args) || args[0] != '{':
		return tools.Result{Content: "the tool arguments are not a JSON object", IsError: true}
	}
	res, err := t.Call(ctx, tools.Call{ID: c.ID, Deployment: x.cfg, ThreadID: x.run.ThreadID, RunID: x.run.ID}, args)
	if err != nil && ctx.Err() == nil {
		x.a.logger.Warn("tool failed", "tool", c.Name, "run_id", x.run.ID, "err", err)
		return tools.Result{Content: "the tool failed: " + herm.ErrorMessage(err), IsError: true}
	}
	// Secret values out before anything is kept: the workspace (saved files,
	// spilled output) is the sandbox's.
	res.Content = x.redact(res.Content)
	for i, f := range res.Files {
		if red := x.redact(string(f.Data)); red != string(f.Data) {
			res.Files[i].Data = []byte(red)
		}
	}
	return x.saveFiles(ctx, c.ID, res)
}

// Images of one tool result shown to the model.
const (
	maxToolImages = 4
	maxImageBytes = 3_750_000 // Anthropic's 5 MB limit applies to the base64 form
)

// saveFiles keeps a result's binary parts in the workspace and lists them
// in its text; images among them, and the workspace images the result
// names, are shown to the model with the result.
func (x *exec) saveFiles(ctx context.Context, callID string, res tools.Result) tools.Result {
	for _, im := range res.WorkspaceImages {
		note := " It is shown to you as an image."
		switch {
		case !x.images:
			note = " Your model does not take images, so it is not shown to you."
		case im.Size > maxImageBytes:
			note = fmt.Sprintf(" It is too large to be shown to you (over %d bytes).", maxImageBytes)
		case len(res.SavedImages) >= maxToolImages:
			note = fmt.Sprintf(" It is not shown to you: one result shows at most %d images.", maxToolImages)
		default:
			res.SavedImages = append(res.SavedImages, im)
		}
		res.Content += note
	}
	res.WorkspaceImages = nil
	for _, f := range res.Files {
		line := fmt.Sprintf("[%s (%s, %d bytes) ", f.Name, f.MediaType, len(f.Data))
		if x.a.opts.SaveFile == nil {
			line += "could not be kept]"
		} else if p, err := x.a.opts.SaveFile(ctx, x.cfg, callID, f); err != nil {
			x.a.logger.Warn("save tool file", "run_id", x.run.ID, "err", err)
			line += "could not be saved: " + herm.ErrorMessage(err) + "]"
		} else {
			line += "saved as " + p
			if x.images && herm.IsImageType(f.MediaType) && len(f.Data) <= maxImageBytes && len(res.SavedImages) < maxToolImages {
				res.SavedImages = append(res.SavedImages, herm.SavedAttachment{Type: herm.AttachImage, Path: p, MediaType: f.MediaType, Size: int64(len(f.Data))})
				line += "; also shown to you as an image"
			}
			line += "]"
		}
		if res.Content != "" {
			res.Content += "\n"
		}
		res.Content += line
	}
	res.Files = nil
	return res
}

// preview cuts a result longer than the preview limit, saving the whole
// output in the workspace first when it can.
func (x *exec) preview(ctx context.Context, callID string, res tools.Result) tools.Result {
	limit := x.a.opts.PreviewLimit
	if len(res.Content) <= limit {
		return res
	}
	total := len(res.Content)
	cut := limit
	for cut > 0 && !utf8.RuneStart(res.Content[cut]) {
		cut--
	}
	head := res.Content[:cut]
	note := fmt.Sprintf("\n\n[output truncated: showing %d of %d bytes", cut, total)
	if x.a.opts.Spill != nil {
		p, err := x.a.opts.Spill(ctx, x.cfg, callID, res.Content)
		if err == nil {
			res.OutputPath = p
			note += "; the full output is in " + p + " (read it with read_file or search it with search_files)"
		} else {
			x.a.logger.Warn("save tool output", "run_id", x.run.ID, "err", err)
			note += "; the full output could not be saved: " + herm.ErrorMessage(err)
		}
	}
	res.Content = head + note + "]"
	res.Truncated = true
	return res
}

func (x *exec) recordResult(ctx context.Context, c herm.StepToolCall, origin string, res tools.Result) error {
	res.Content = x.redact(res.Content)
	return x.record(ctx, func(q store.Querier, ch *change) ([]*herm.Event, error) {
		if err := ch.step(ctx, q, herm.StepToolResult, herm.StepToolData{
			ToolCallID: c.ID, Tool: c.Name, Origin: origin, Result: res.Content, IsError: res.IsError, Images: res.SavedImages,
		}); err != nil {
			return nil, err
		}
		ch.addUsage(herm.Usage{ToolCalls: 1})
		if err := ch.saveRun(ctx, q); err != nil {
			return nil, err
		}
		var outputPath any
		if res.OutputPath != "" {
			outputPath = res.OutputPath
		}
		return []*herm.Event{x.event(herm.EventToolResult, map[string]any{
			"tool_call_id": c.ID, "tool": x.bareName(c.Name), "origin": origin, "result": res.Content,
			"is_error": res.IsError, "truncated": res.Truncated, "output_path": outputPath,
		})}, nil
	})
}

// modelError is a failed model call: the run ends with an error.
type modelError struct{ err error }

func (e *modelError) Error() string { return e.err.Error() }
func (e *modelError) Unwrap() error { return e.err }

// LLMSettings are a deployment's model settings as providers take them.
func LLMSettings(s herm.ModelSettings) llm.Settings {
	out := llm.Settings{Temperature: s.Temperature, MaxTokens: s.MaxTokens}
	if s.Reasoning != nil {
		out.ReasoningEffort, out.ThinkingBudget = s.Reasoning.Effort, s.Reasoning.BudgetTokens
	}
	return out
}

// modelTurn streams one model call and records it. When the model fails
// before anything was streamed, with a failure of the provider rather than
// of the request (llm.Error.Transient, after the provider's own retries),
// the deployment's fallback models are tried in order; once a delta went
// out, never (a second answer would repeat output).
func (x *exec) modelTurn(ctx context.Context) error {
	provider, model, err := x.a.models.Resolve(x.cfg.Model)
	if err != nil {
		return &modelError{fmt.Errorf("model %q is not available: %w", x.cfg.Model, err)}
	}
	req := llm.Request{
		Model:     model,
		Tools:     x.specs,
		MaxTokens: x.a.opts.MaxTokens,
		Output:    x.output,
	}
	LLMSettings(x.cfg.ModelSettings).Apply(&req)
	req.System, req.Messages, err = x.request(ctx, provider, model)
	if err != nil {
		return err
	}
	req.System += x.outputNote
	turn := x.tr.nextTurn()
	attempt, err := x.startAttempt(ctx, turn)
	if err != nil {
		return err
	}
	ts := x.newTurnStream(turn, attempt, nil)
	models := append([]string{x.cfg.Model}, x.cfg.ModelSettings.FallbackModels...)
	var resp *llm.Response
	answered := ""
	for i, full := range models {
		if i > 0 {
			p, m, rerr := x.a.models.Resolve(full)
			if rerr != nil {
				x.a.logger.Warn("fallback model not available", "run_id", x.run.ID, "model", full, "err", rerr)
				continue
			}
			provider, req.Model = p, m
			x.a.logger.Warn("model failed before streaming; trying a fallback", "run_id", x.run.ID,
				"model", models[i-1], "fallback", full, "err", err)
		}
		resp, err = provider.Stream(ctx, req, ts.delta)
		if x.a.opts.OnModelCall != nil {
			var u llm.Usage
			if resp != nil {
				u = resp.Usage
			}
			x.a.opts.OnModelCall(full, u, err)
		}
		if err == nil {
			answered = full
			break
		}
		var le *llm.Error
		if ctx.Err() != nil || ts.emitted || !errors.As(err, &le) || !le.Transient() {
			break
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			// A cancelled run ends here: its partial text is abandoned. A
			// stopped one is resumed, and the redo abandons it then.
			if errors.Is(context.Cause(ctx), ErrCancelled) {
				if err := x.abandon(context.WithoutCancel(ctx), ts); err != nil {
					x.a.logger.Warn("abandon a cancelled turn", "run_id", x.run.ID, "err", err)
				}
			}
			return ctx.Err()
		}
		if err := x.abandon(ctx, ts); err != nil {
			return err
		}
		return &modelError{err}
	}
	text, ok := ts.finish(resp.Text)
	if !ok {
		// The deltas were not the response's text: they are abandoned and
		// the text goes out whole as the turn's next attempt.
		if attempt, err = x.startAttempt(ctx, turn); err != nil {
			return err
		}
		ts = x.newTurnStream(turn, attempt, nil)
		text, _ = ts.finish(resp.Text)
	}
	resp.Text = text
	// Calibrate the estimate with the provider's own count.
	if in := resp.Usage.InputTokens + resp.Usage.CacheReadTokens; in > 0 {
		calib := x.calib
		x.calib = 1
		if est := x.estimate(req.System, req.Messages); est > 0 {
			// Bounded: tokenizers differ by that much at most; a provider
			// reporting nonsense must not switch compaction off.
			x.calib = min(max(float64(in)/float64(est), 0.5), 2)
		} else {
			x.calib = calib
		}
	}
	return x.recordModel(ctx, resp, turn, answered)
}

// recordModel records a model turn whose text is redacted already (it is
// the text that the turn's token events carried), answered by model (the
// deployment's or a fallback).
func (x *exec) recordModel(ctx context.Context, resp *llm.Response, turn int, model string) error {
	data := herm.StepModelData{
		Model:      model,
		Text:       resp.Text,
		StopReason: string(resp.StopReason),
		Usage: herm.Usage{
			InputTokens: resp.Usage.InputTokens, OutputTokens: resp.Usage.OutputTokens,
			CacheReadTokens: resp.Usage.CacheReadTokens, ModelCalls: 1,
		},
	}
	for _, t := range resp.Thinking {
		data.Thinking = append(data.Thinking, herm.Thinking(t))
	}
	used := map[string]bool{} // this turn's; x.tr.callIDs has the earlier ones
	for i, c := range resp.ToolCalls {
		args := c.Arguments
		if len(args) == 0 {
			args = json.RawMessage(`{}`)
		}
		// Call IDs must be unique within the run (steering requests and
		// results are keyed by them): an empty or reused one is replaced.
		id := c.ID
		if id == "" || used[id] || x.tr.callIDs[id] {
			id = fmt.Sprintf("call_%d_%d", x.tr.len(), i)
		}
		used[id] = true
		data.ToolCalls = append(data.ToolCalls, herm.StepToolCall{ID: id, Name: c.Name, Arguments: args})
	}
	now := x.a.now().UTC()
	var evs []*herm.Event
	if resp.Text != "" {
		data.MessageID = x.a.ids.New(herm.PrefixMessage)
		evs = append(evs, x.event(herm.EventMessage, map[string]any{
			"message_id": data.MessageID, "role": herm.RoleAgent, "content": resp.Text, "turn": turn, "model": model,
		}))
	}
	ev, used1 := x.usageOf(model, resp.Usage, "")
	data.Usage.CostUSD = used1.CostUSD
	evs = append(evs, ev)

	// The token deltas were emitted without waiting; record flushes them,
	// so that they are in the log before the message that completes them.
	return x.record(ctx, func(q store.Querier, ch *change) ([]*herm.Event, error) {
		if data.MessageID != "" {
			// The thread first, before its run (saveRun) and its message:
			// the store's lock order.
			if err := q.TouchThread(ctx, x.run.ThreadID, now); err != nil {
				return nil, err
			}
			if err := q.CreateMessage(ctx, &herm.Message{
				ID: data.MessageID, DeploymentID: x.run.DeploymentID, ThreadID: x.run.ThreadID,
				RunID: x.run.ID, Role: herm.RoleAgent, Content: resp.Text, CreatedAt: now,
			}); err != nil {
				return nil, err
			}
		}
		if err := ch.step(ctx, q, herm.StepModel, data); err != nil {
			return nil, err
		}
		ch.addUsage(used1)
		if err := ch.saveRun(ctx, q); err != nil {
			return nil, err
		}
		return evs, nil
	})
}

// finish records the run's end with its run_status event. A normal
// completion (end_turn) is refused (false, nil) while steering input is
// pending, so that a run never ends with unread input: the loop takes one
// more turn.
func (x *exec) finish(ctx context.Context, status herm.RunStatus, stop string, e *herm.ErrorInfo) (bool, error) {
	return x.a.end(ctx, x.run, x.owner, status, stop, e, nil)
}

// Fail ends a run that owner holds in error (the runner's answer to a run
// that could not start or panicked), best effort within ctx.
func (a *Agent) Fail(ctx context.Context, run *herm.Run, owner string, e *herm.ErrorInfo) error {
	_, err := a.end(ctx, run, owner, herm.RunError, herm.StopError, e, nil)
	return err
}

// end records a run's end through the store's transition for it, with the
// run_status event, in one transaction, then publishes the event; run
// changes once it committed. A completion is refused (false, nil) while the
// run has pending input. Any other end releases pending input into the
// thread's history, so that no message is lost: the next run sees it.
// output is a completed run's typed result (nil: none), stored with the
// completion and carried by its run_status event.
func (a *Agent) end(ctx context.Context, run *herm.Run, owner string, status herm.RunStatus, stop string, e *herm.ErrorInfo, output json.RawMessage) (bool, error) {
	t := a.now().UTC()
	fields := map[string]any{"status": status, "stop_reason": stop, "error": e}
	if output != nil {
		fields["output"] = output
	}
	ev := herm.NewEvent(run.DeploymentID, run.ThreadID, run.ID, herm.EventRunStatus, fields)
	err := a.log.Tx(ctx, func(q store.Querier) ([]*herm.Event, error) {
		// The thread first (the store's lock order: a thread before its
		// runs), as a Send does, which holds it from reading the thread's
		// active runs to storing the input it steers into one: the run ends
		// before such a Send reads it, or after its input is stored.
		if err := q.TouchThread(ctx, run.ThreadID, t); err != nil && !herm.IsCode(err, herm.ENotFound) {
			return nil, err
		}
		// Then the transition, which takes the run; pending input is
		// released after it (a completion releases none: it is refused
		// then), except for a completion that does not wait for it
		// (max_steps: no Send adds input meanwhile, see above).
		var err error
		switch status {
		case herm.RunCompleted:
			if stop != herm.StopEndTurn {
				err = releaseInput(ctx, q, run.ID, t)
			}
			if err == nil && output != nil {
				err = q.SetRunOutput(ctx, run.ID, owner, output)
			}
			if err == nil {
				err = q.CompleteRun(ctx, run.ID, owner, stop, t)
			}
		case herm.RunCancelled:
			if err = q.EndCancelled(ctx, run.ID, owner, t); err == nil {
				err = releaseInput(ctx, q, run.ID, t)
			}
		default:
			if err = q.FailRun(ctx, run.ID, owner, e, t); err == nil {
				err = releaseInput(ctx, q, run.ID, t)
			}
		}
		if err != nil {
			return nil, err
		}
		return []*herm.Event{ev}, nil
	})
	if errors.Is(err, store.ErrInputPending) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	run.Status, run.StopReason, run.Error, run.CompletedAt = status, stop, e, &t
	if output != nil {
		run.Output = output
	}
	return true, nil
}

// releaseInput moves a run's pending messages into the thread's history.
func releaseInput(ctx context.Context, q store.Querier, runID string, at time.Time) error {
	pending, err := q.PendingMessages(ctx, runID)
	if err != nil {
		return err
	}
	for _, m := range pending {
		if err := q.TakeMessage(ctx, m.ID, at); err != nil {
			return err
		}
	}
	return nil
}

// overBudget reports, before a model call, whether the deployment's budget
// (as it is now, not as the run's configuration version had it) is spent.
func (x *exec) overBudget(ctx context.Context) (*herm.ErrorInfo, error) {
	d, err := x.a.store.GetDeployment(ctx, x.run.DeploymentID)
	if err != nil || d.BudgetUSD == nil {
		return nil, err
	}
	spent, err := x.a.store.DeploymentSpend(ctx, x.run.DeploymentID)
	if err != nil {
		return nil, err
	}
	if spent < *d.BudgetUSD {
		return nil, nil
	}
	return &herm.ErrorInfo{Code: herm.EInsufficientCredit, Message: fmt.Sprintf(
		"the deployment's budget of $%.2f is spent ($%.4f): the run stopped before its next model call", *d.BudgetUSD, spent)}, nil
}

// usage returns one model call's usage event and what it adds to the run's
// totals (its cost, when known, as CostUSD). purpose is "" for the agent's
// own turns (which count toward max_steps) and names any other call
// ("compaction", "subagent").
func (x *exec) usage(u llm.Usage, purpose string) (*herm.Event, herm.Usage) {
	return x.usageOf(x.cfg.Model, u, purpose)
}

// usageOf is usage of a call that model answered, which the event names
// and prices it.
func (x *exec) usageOf(model string, u llm.Usage, purpose string) (*herm.Event, herm.Usage) {
	fields := map[string]any{
		"input_tokens": u.InputTokens, "output_tokens": u.OutputTokens,
		"cache_read_tokens": u.CacheReadTokens, "cost_usd": nil, "model": model,
	}
	add := herm.Usage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, CacheReadTokens: u.CacheReadTokens}
	if c, ok := x.a.opts.Prices.Cost(model, u); ok {
		add.CostUSD = &c
		fields["cost_usd"] = c
	}
	if purpose != "" {
		fields["purpose"] = purpose
	} else {
		add.ModelCalls = 1
	}
	return x.event(herm.EventUsage, fields), add
}

// bareName is the name events carry: an MCP tool's own name (its origin is
// the server), else the model-facing name.
func (x *exec) bareName(name string) string {
	if t, ok := x.tools[name].(interface{ BareName() string }); ok {
		return t.BareName()
	}
	if _, ok := x.tools[name]; !ok {
		bare, _ := herm.SplitToolName(name) // an MCP tool of a server that is not there now
		return bare
	}
	return name
}

// Now is the system prompt's line that tells the agent the date and time:
// t in the time zone tz (an IANA name; "" or unknown: UTC), to the minute.
func Now(t time.Time, tz string) string {
	loc := time.UTC
	if tz != "" {
		if l, err := time.LoadLocation(tz); err == nil {
			loc = l
		}
	}
	name := tz
	if loc == time.UTC {
		name = "UTC"
	}
	return "Current date and time: " + t.In(loc).Format("Monday, 2 January 2006, 15:04") + " (" + name + ", UTC" + t.In(loc).Format("-07:00") + ")."
}
