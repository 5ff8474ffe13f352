package builtin

import (
	"context"
	"fmt"
	"strings"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/tools"
)

type automationsArgs struct {
	Action       string  `json:"action" enum:"create,list,update,delete" jsonschema:"create a scheduled task, list them, update one (automation_id and the fields to change), or delete one."`
	AutomationID string  `json:"automation_id,omitempty" jsonschema:"For update and delete: the automation's id (auto_…), as listed."`
	Name         *string `json:"name,omitempty" jsonschema:"A short name, for create (and update)."`
	Schedule     *string `json:"schedule,omitempty" jsonschema:"When it runs: plain English such as \"every Monday at 9am\", \"every weekday at 8:30\", \"every 2 hours\", or a 5-field cron expression; read in timezone."`
	Instructions *string `json:"instructions,omitempty" jsonschema:"What to do at each run, written as a request to yourself with everything needed (the run starts with only these and the thread's history)."`
	Enabled      *bool   `json:"enabled,omitempty" jsonschema:"Pause (false) or resume (true) an automation."`
	Timezone     *string `json:"timezone,omitempty" jsonschema:"The customer's IANA time zone (such as Europe/Berlin) when they gave times in it; default UTC."`
}

// automationsTool lets the agent schedule its own work: offered only to
// deployments with features.automations on.
type automationsTool struct {
	*tool[automationsArgs]
}

// AvailableFor implements tools.Gated.
func (automationsTool) AvailableFor(d *herm.Deployment) bool { return d.Features.Automations }

func describeAutomation(a *herm.Automation) string {
	next := "not scheduled"
	if a.NextRunAt != nil {
		next = "next " + a.NextRunAt.Format("2006-01-02 15:04 MST")
	}
	state := "enabled"
	if !a.Enabled {
		state = "paused"
	}
	return fmt.Sprintf("%s %q: %s (%s, %s), %s; instructions: %s", a.ID, a.Name, a.Schedule, a.Timezone, state, next, clipText(a.Instructions, 200))
}

func clipText(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// Automations is what the automations tool needs of the scheduler
// (automation.Service). Errors with a code other than EInternal are told
// to the model.
type Automations interface {
	Create(ctx context.Context, deploymentID string, in herm.AutomationInput) (*herm.Automation, error)
	Update(ctx context.Context, deploymentID, id string, in herm.AutomationInput) (*herm.Automation, error)
	Delete(ctx context.Context, deploymentID, id string) error
	List(ctx context.Context, deploymentID string) ([]*herm.Automation, error)
}

// NewAutomations returns the automations tool (added to the registry once
// the runner it starts runs through exists).
func NewAutomations(svc Automations) Tool {
	return automationsTool{newTool("automations", "Schedule recurring work for this customer (reports, checks, reminders): each run happens on its own thread at the times given, with the instructions you write. List, change, pause or delete them when the customer asks.", false,
		func(ctx context.Context, c tools.Call, a automationsArgs) (tools.Result, error) {
			dep := c.Deployment.ID
			fail := func(err error) (tools.Result, error) {
				if herm.ErrorCode(err) == herm.EInternal {
					return tools.Result{}, err
				}
				return errResult("%s", herm.ErrorMessage(err)), nil
			}
			in := herm.AutomationInput{Name: a.Name, Schedule: a.Schedule, Instructions: a.Instructions, Enabled: a.Enabled, Timezone: a.Timezone}
			switch a.Action {
			case "create":
				au, err := svc.Create(ctx, dep, in)
				if err != nil {
					return fail(err)
				}
				return tools.Result{Content: "scheduled " + describeAutomation(au)}, nil
			case "update":
				if a.AutomationID == "" {
					return errResult("update needs automation_id (list them to see them)"), nil
				}
				au, err := svc.Update(ctx, dep, a.AutomationID, in)
				if err != nil {
					return fail(err)
				}
				return tools.Result{Content: "updated " + describeAutomation(au)}, nil
			case "delete":
				if a.AutomationID == "" {
					return errResult("delete needs automation_id (list them to see them)"), nil
				}
				if err := svc.Delete(ctx, dep, a.AutomationID); err != nil {
					return fail(err)
				}
				return tools.Result{Content: "deleted " + a.AutomationID}, nil
			case "list":
				list, err := svc.List(ctx, dep)
				if err != nil {
					return fail(err)
				}
				if len(list) == 0 {
					return tools.Result{Content: "no automations"}, nil
				}
				var b strings.Builder
				for _, au := range list {
					b.WriteString(describeAutomation(au) + "\n")
				}
				return tools.Result{Content: b.String()}, nil
			default:
				return errResult("action must be create, list, update or delete (got %q)", a.Action), nil
			}
		})}
}
