package agent

import (
	"context"
	"fmt"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/store"
)

// Typed results. A run with an output schema ends with a final answer that
// is JSON valid against it. A provider with native structured output gets
// the schema with every model call (llm.Request.Output, in the strict form
// herm.StrictOutputSchema makes); every model is also told in the system
// prompt of its own turns (not a subagent's). The final answer is validated either way: an invalid one gets
// one repair turn (an output_repair step: the model is told why and answers
// again), and a second invalid one ends the run in error, output_invalid.

// outputSetup prepares the run's typed result: the system prompt's
// instructions and, where the provider has it, native structured output.
func (x *exec) outputSetup() error {
	schema := x.run.OutputSchema
	strict, err := herm.StrictOutputSchema(schema)
	if err != nil {
		return err
	}
	x.outputNote = fmt.Sprintf("\n\n# Final answer format\n\nWhen you have finished (after any tool calls), give your final answer as a single JSON value valid against this JSON Schema, and nothing else: no prose, no Markdown code fence.\n\n%s\n", schema)
	if provider, model, err := x.a.models.Resolve(x.cfg.Model); err == nil && llm.HasStructuredOutput(provider, model) {
		x.output = &llm.OutputFormat{Name: "output", Schema: strict}
	}
	return nil
}

// complete ends the run after a model turn with no tool calls: completed,
// with its typed result when it has an output schema and the answer is
// valid; else it records the repair turn (false, nil: the loop goes on) or,
// after one, ends the run in error. Like finish, it reports false while
// input is pending.
func (x *exec) complete(ctx context.Context, last *entry) (bool, error) {
	if len(x.run.OutputSchema) == 0 {
		return x.finish(ctx, herm.RunCompleted, herm.StopEndTurn, nil)
	}
	output, verr := herm.CheckOutput(x.run.OutputSchema, last.model.Text)
	if verr == nil {
		return x.a.end(ctx, x.run, x.owner, herm.RunCompleted, herm.StopEndTurn, nil, output)
	}
	if x.tr.repaired() {
		return x.finish(ctx, herm.RunError, herm.StopError, &herm.ErrorInfo{
			Code:    herm.EOutputInvalid,
			Message: "the final answer is not valid against the output schema, also after a repair turn: " + clip(verr.Error(), 1000),
		})
	}
	err := x.record(ctx, func(q store.Querier, c *change) ([]*herm.Event, error) {
		return nil, c.step(ctx, q, herm.StepOutputRepair, herm.StepOutputRepairData{Error: clip(verr.Error(), 2000)})
	})
	return false, err
}

// repairPrompt is what the model is told when its final answer was not
// valid against the output schema.
func repairPrompt(why string) string {
	return "Your final answer is not valid: " + why + "\n\nAnswer again with only a single JSON value valid against the JSON Schema of the final answer format (no prose, no code fence)."
}
