// Package store defines Herm's persistence: one interface that every backend
// (store/sqlite and store/postgres, both through store/sqlstore) implements,
// checked by one behaviour suite (store/storetest).
//
// Errors: methods return *herm.Error with ENotFound when the object does not
// exist and EConflict on a uniqueness or state conflict, as documented on each
// method; anything else is an internal error.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

// Store is a database. Its Querier methods run each in its own transaction;
// InTx runs several in one.
type Store interface {
	Querier
	// InTx runs fn in one write transaction, committed when fn returns nil and
	// rolled back otherwise (fn's error is returned unchanged): its writes
	// are made all together or not at all.
	//
	// It is not serialised with other transactions: another one, on any
	// connection or node, may change what fn read before fn writes (PostgreSQL
	// runs them concurrently under READ COMMITTED, SQLite one at a time). So
	// a write never relies on an earlier read: each state change is a guarded
	// statement whose precondition is in its WHERE and that fails, changing
	// nothing, when the row is no longer as the caller expects — the run
	// transitions, SetDeploymentStatusFrom, UpdateDeploymentConfig,
	// ResolveSteeringRequest, TakeMessage, UpdateAutomation, the idempotency
	// keys, the claims. What a transaction decides on across rows it holds
	// first: ActiveRuns holds the thread and its active runs until the
	// transaction ends (a Send decides on them).
	//
	// Transactions take rows in one order, so that they do not deadlock: a
	// thread (ActiveRuns, TouchThread, DeleteThread) before its runs, a run
	// before its steering requests and messages, and deployments last
	// (AppendEvents, at the end of the transaction; several in ID order),
	// then only the counters of their threads' event sequences
	// (AppendEvents, under its deployments' locks).
	InTx(ctx context.Context, fn func(q Querier) error) error
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// Querier holds every read and write of the store.
//
// Lists that take a herm.Page return at most Limit items, 20 when Limit <= 0,
// newest first; the cursor is the ID of the last item of the previous page
// and the next page holds the items with smaller IDs (IDs sort by creation).
type Querier interface {
	// API keys.

	// CreateAPIKey stores k (ID and Hash unique; EConflict otherwise).
	CreateAPIKey(ctx context.Context, k *herm.APIKey) error
	// APIKeyByHash returns the key with this hash, revoked or not (ENotFound).
	APIKeyByHash(ctx context.Context, hash string) (*herm.APIKey, error)
	// ListAPIKeys lists keys that are not revoked, newest first.
	ListAPIKeys(ctx context.Context, p herm.Page) ([]*herm.APIKey, error)
	// RevokeAPIKey marks the key revoked at the given time (ENotFound if no
	// such key or already revoked).
	RevokeAPIKey(ctx context.Context, id string, at time.Time) error
	// CountAPIKeys counts keys that are not revoked.
	CountAPIKeys(ctx context.Context) (int, error)
	// TouchAPIKey records the key's last use (ENotFound).
	TouchAPIKey(ctx context.Context, id string, at time.Time) error

	// Idempotency.

	// GetIdempotency returns the stored response for (keyID, key), ENotFound if none.
	GetIdempotency(ctx context.Context, keyID, key string) (*herm.Idempotency, error)
	// PutIdempotency stores a response; EConflict if (keyID, key) exists.
	PutIdempotency(ctx context.Context, r *herm.Idempotency) error
	// DeleteIdempotencyBefore removes stored responses created before t.
	DeleteIdempotencyBefore(ctx context.Context, t time.Time) (int64, error)
	// ReserveIdempotency stores r as a request in progress (StatusCode 0)
	// unless (KeyID, Key) has a row, which it returns instead; nil means the
	// caller holds the key. One insert that conflicts: two servers never
	// both run a request under one key.
	ReserveIdempotency(ctx context.Context, r *herm.Idempotency) (*herm.Idempotency, error)
	// TakeIdempotency makes the row read earlier (created at was: expired,
	// or a reservation whose request died) the reservation r, if it is
	// still that row; EConflict otherwise.
	TakeIdempotency(ctx context.Context, r *herm.Idempotency, was time.Time) error
	// CompleteIdempotency stores the response of reservation r; EConflict
	// when the reservation was taken over.
	CompleteIdempotency(ctx context.Context, r *herm.Idempotency) error
	// ReleaseIdempotency removes reservation r (no result to keep).
	ReleaseIdempotency(ctx context.Context, r *herm.Idempotency) error

	// Deployments.

	// CreateDeployment stores d (with ConfigVersion 1) and its default thread
	// t, and records d as config version 1 (see DeploymentVersion).
	CreateDeployment(ctx context.Context, d *herm.Deployment, t *herm.Thread) error
	// GetDeployment returns a deployment (ENotFound).
	GetDeployment(ctx context.Context, id string) (*herm.Deployment, error)
	// ListDeployments lists deployments newest first, without the hidden
	// deployments of agents (AgentID set); the cursor is the ID of the last
	// item of the previous page. Returns at most f.Limit items.
	ListDeployments(ctx context.Context, f herm.DeploymentFilter) ([]*herm.Deployment, error)
	// UpdateDeploymentConfig stores the configuration fields of d (name,
	// model, system prompt, sandbox, mcp servers, skills, secrets, features,
	// tools, metadata, updated_at), sets ConfigVersion to d.ConfigVersion and
	// records that version. It fails with EConflict, changing nothing, unless
	// the stored ConfigVersion is d.ConfigVersion-1 (optimistic concurrency)
	// and the deployment is not being deleted (status deleting): read it
	// again. ENotFound.
	UpdateDeploymentConfig(ctx context.Context, d *herm.Deployment) error
	// SetDeploymentStatus sets status, error and updated_at, whatever the
	// status was (ENotFound).
	SetDeploymentStatus(ctx context.Context, id string, s herm.DeploymentStatus, e *herm.ErrorInfo, at time.Time) error
	// SetDeploymentStatusFrom is SetDeploymentStatus only while the
	// deployment is in status from, in one guarded statement: EConflict
	// (nothing changes) when it is in another, so that, say, a provisioning
	// result does not undo a deletion that came first. ENotFound.
	SetDeploymentStatusFrom(ctx context.Context, id string, from, to herm.DeploymentStatus, e *herm.ErrorInfo, at time.Time) error
	// DeploymentVersion returns the deployment as it was configured at the
	// given config version (status fields are the current ones) (ENotFound).
	DeploymentVersion(ctx context.Context, id string, version int) (*herm.Deployment, error)
	// DeleteDeployment removes the deployment and everything that belongs to
	// it: threads, messages, runs, steps, events, versions (ENotFound).
	DeleteDeployment(ctx context.Context, id string) error
	// ListDeploymentIDsByStatus returns the IDs of every deployment in status
	// s that owner owns (whatever their owner when owner is "").
	ListDeploymentIDsByStatus(ctx context.Context, s herm.DeploymentStatus, owner string) ([]string, error)

	// EnsureAgentDeployment stores d, the hidden deployment of d.AgentID
	// and d.UserKey (both required: EInvalid), with its default thread t as
	// CreateDeployment does, unless that agent and user have one already;
	// it returns the pair's deployment and whether it stored d. Of
	// concurrent calls for one pair exactly one stores its deployment and
	// the others return that one (they wait for it where writers run
	// concurrently). d's first configuration version is d.ConfigVersion
	// (its agent's version; 1 when unset), not always 1. ENotFound when the
	// agent does not exist.
	EnsureAgentDeployment(ctx context.Context, d *herm.Deployment, t *herm.Thread) (*herm.Deployment, bool, error)
	// PutDeploymentVersion records d's configuration as version
	// d.ConfigVersion of hidden deployment d.ID unless it is recorded, and
	// makes it current when it is newer than the current one (a hidden
	// deployment's versions are its agent's, recorded as its sessions use
	// them). ENotFound.
	PutDeploymentVersion(ctx context.Context, d *herm.Deployment) error
	// DeploymentForAgentUser returns the hidden deployment of an agent and
	// a user key (ENotFound). GetDeployment returns hidden deployments too;
	// ListDeployments leaves them out.
	DeploymentForAgentUser(ctx context.Context, agentID, userKey string) (*herm.Deployment, error)

	// Agents. An agent's definition is a JSON document, kept per version as
	// given.

	// CreateAgent stores a with def as its version 1, setting a.Status
	// (active) and a.CurrentVersion (1) (EConflict when the ID is taken;
	// EInvalid when def is not JSON).
	CreateAgent(ctx context.Context, a *herm.Agent, def json.RawMessage) error
	// GetAgent returns an agent (ENotFound).
	GetAgent(ctx context.Context, id string) (*herm.Agent, error)
	// ListAgents lists agents matching f, newest first.
	ListAgents(ctx context.Context, f herm.AgentFilter) ([]*herm.Agent, error)
	// UpdateAgent stores a's name, metadata and updated_at and records def
	// as version a.CurrentVersion, in one guarded statement: EConflict,
	// changing nothing, unless the stored CurrentVersion is
	// a.CurrentVersion-1 and the agent is active (of two concurrent updates
	// from one version one wins). ENotFound.
	UpdateAgent(ctx context.Context, a *herm.Agent, def json.RawMessage) error
	// ArchiveAgent archives an active agent at the given time (ENotFound;
	// EConflict when it is archived already).
	ArchiveAgent(ctx context.Context, id string, at time.Time) error
	// GetAgentVersion returns one version of an agent (ENotFound).
	GetAgentVersion(ctx context.Context, agentID string, version int) (*herm.AgentVersion, error)
	// ListAgentVersions lists an agent's versions newest first, those
	// below before (0: from the newest), at most limit.
	ListAgentVersions(ctx context.Context, agentID string, before, limit int) ([]*herm.AgentVersion, error)

	// Sessions. A session is a thread of a hidden deployment (see
	// EnsureAgentDeployment); the caller makes both first, in the session's
	// transaction.

	// CreateSession stores s (ENotFound when its agent version, deployment
	// or thread does not exist; EConflict when the agent is archived, the
	// ID taken or the thread another session's).
	CreateSession(ctx context.Context, s *herm.Session) error
	// GetSession returns a session (ENotFound).
	GetSession(ctx context.Context, id string) (*herm.Session, error)
	// ListSessions lists sessions matching f, newest first.
	ListSessions(ctx context.Context, f herm.SessionFilter) ([]*herm.Session, error)
	// UpdateSession stores s's title, metadata and updated_at (ENotFound).
	UpdateSession(ctx context.Context, s *herm.Session) error
	// ArchiveSession archives a session at the given time (ENotFound;
	// EConflict when it is archived already).
	ArchiveSession(ctx context.Context, id string, at time.Time) error
	// DeleteSession removes a session and its thread (as DeleteThread,
	// whose order it takes); its deployment stays (ENotFound).
	DeleteSession(ctx context.Context, id string) error

	// Nodes. A node (one server of a cluster, or the single server) is
	// registered while its row has not expired; a deployment's owner
	// (herm.Deployment.Owner, set on create) is the node that runs its
	// sandbox and alone claims its runs, and is alive while its node is.
	// A run's lease is renewed with its node's registration: a node's
	// heartbeat is HeartbeatNode and RenewLeases, whatever the number of its
	// runs and deployments.

	// JoinNode registers node id as incarnation (a process of it) until
	// expires; a node that registers again (it restarted) takes its row
	// over. Rows of nodes dead for a day are forgotten.
	JoinNode(ctx context.Context, id, incarnation string, now, expires time.Time) error
	// OwnEverything makes node the owner of every deployment and forgets
	// every other node: for a single server, whose other processes are
	// known to be gone.
	OwnEverything(ctx context.Context, node string) error
	// HeartbeatNode extends node id's registration until expires.
	// EConflict when incarnation no longer holds it (another process
	// registered as the node, or it left).
	HeartbeatNode(ctx context.Context, id, incarnation string, expires time.Time) error
	// LeaveNode unregisters node id (any incarnation when incarnation is
	// ""; nothing happens when incarnation does not hold it): its
	// deployments are left without owner and the leases of its running runs
	// expire as of now, so that other nodes take them over at once.
	LeaveNode(ctx context.Context, id, incarnation string, now time.Time) error
	// LiveNodes returns the IDs of the nodes registered at now, sorted.
	LiveNodes(ctx context.Context, now time.Time) ([]string, error)
	// RenewLeases extends until leaseUntil the lease of every running run
	// owner holds, and returns those runs (with their cancel flags).
	RenewLeases(ctx context.Context, owner string, leaseUntil time.Time) ([]herm.Lease, error)
	// AdoptableDeployments returns up to limit deployments (limit <= 0:
	// all) without a live owner that have work: a queued run, a running run
	// whose lease has expired, provisioning or a deletion to carry out.
	AdoptableDeployments(ctx context.Context, now time.Time, limit int) ([]string, error)
	// AdoptDeployment makes node the owner of a deployment without a live
	// owner (or node's already) and reports whether it did.
	AdoptDeployment(ctx context.Context, deploymentID, node string, now time.Time) (bool, error)

	// Threads.

	// CreateThread stores t (ENotFound when its deployment does not exist,
	// EConflict when the ID is taken).
	CreateThread(ctx context.Context, t *herm.Thread) error
	// GetThread returns a thread of the deployment with its derived Status
	// and MessageCount (ENotFound, also when it belongs to another deployment).
	GetThread(ctx context.Context, deploymentID, threadID string) (*herm.Thread, error)
	// ListThreads lists a deployment's threads, newest first.
	ListThreads(ctx context.Context, deploymentID string, p herm.Page) ([]*herm.Thread, error)
	// UpdateThreadTitle renames a thread (ENotFound).
	UpdateThreadTitle(ctx context.Context, deploymentID, threadID, title string) error
	// TouchThread sets last_activity_at (ENotFound).
	TouchThread(ctx context.Context, threadID string, at time.Time) error
	// DeleteThread removes a thread with its messages, runs, steps (events
	// stay in the log) (ENotFound). It takes the thread first.
	DeleteThread(ctx context.Context, deploymentID, threadID string) error

	// Messages.

	// CreateMessage stores m (ENotFound when its thread does not exist,
	// EConflict when the ID is taken).
	CreateMessage(ctx context.Context, m *herm.Message) error
	// ListMessages returns a thread's messages that are not pending, oldest
	// first (the whole history; at most limit when limit > 0, the newest ones).
	ListMessages(ctx context.Context, threadID string, limit int) ([]*herm.Message, error)
	// PendingMessages returns the run's pending user messages, oldest first.
	PendingMessages(ctx context.Context, runID string) ([]*herm.Message, error)
	// TakeMessage marks a pending message taken in (no longer pending) and
	// sets its created_at to at, so that the history shows it where the run
	// read it (ENotFound if it is not pending).
	TakeMessage(ctx context.Context, messageID string, at time.Time) error

	// DeploymentSpend sums the cost (USD) of a deployment's runs, those of
	// deleted threads included.
	DeploymentSpend(ctx context.Context, deploymentID string) (float64, error)

	// Secrets.

	// CreateSecret stores s (EConflict when the ID is taken).
	CreateSecret(ctx context.Context, s *herm.Secret) error
	// GetSecret returns a secret (ENotFound).
	GetSecret(ctx context.Context, id string) (*herm.Secret, error)
	// ListSecrets lists secrets newest first, after cursor, at most limit.
	ListSecrets(ctx context.Context, p herm.Page) ([]*herm.Secret, error)
	// RotateSecret replaces a secret's ciphertext (ENotFound).
	RotateSecret(ctx context.Context, id string, ciphertext []byte, at time.Time) error
	// ResealSecret replaces a secret's ciphertext with the same value
	// sealed under another key, only if it still is old (nil otherwise).
	ResealSecret(ctx context.Context, id string, old, ciphertext []byte) error
	// DeleteSecret removes a secret (ENotFound).
	DeleteSecret(ctx context.Context, id string) error

	// Automations.

	// CreateAutomation stores a (EConflict when the ID is taken, ENotFound
	// without its deployment).
	CreateAutomation(ctx context.Context, a *herm.Automation) error
	// GetAutomation returns one of a deployment's automations (ENotFound).
	GetAutomation(ctx context.Context, deploymentID, id string) (*herm.Automation, error)
	// ListAutomations lists a deployment's automations newest first.
	ListAutomations(ctx context.Context, deploymentID string, p herm.Page) ([]*herm.Automation, error)
	// UpdateAutomation replaces a stored automation if it is still at
	// a.Version, and advances a.Version with the stored one. ENotFound;
	// EConflict when another change was stored meanwhile (read it again).
	UpdateAutomation(ctx context.Context, a *herm.Automation) error
	// DeleteAutomation removes an automation (ENotFound).
	DeleteAutomation(ctx context.Context, deploymentID, id string) error
	// AutomationsToCheck returns the enabled automations due at now (their
	// next firing or retry) and those whose last run has not ended.
	AutomationsToCheck(ctx context.Context, now time.Time, limit int) ([]*herm.Automation, error)

	// Webhooks. AppendEvents writes a pending delivery of each appended
	// event for every webhook that wants it, in the same transaction.

	// CreateWebhook stores w (EConflict when the ID is taken).
	CreateWebhook(ctx context.Context, w *herm.Webhook) error
	// GetWebhook returns a webhook (ENotFound).
	GetWebhook(ctx context.Context, id string) (*herm.Webhook, error)
	// ListWebhooks lists webhooks newest first, after cursor, at most limit.
	ListWebhooks(ctx context.Context, p herm.Page) ([]*herm.Webhook, error)
	// ResealWebhook replaces a webhook's encrypted secret with the same
	// secret sealed under another key, only if it still is old.
	ResealWebhook(ctx context.Context, id string, old, secret []byte) error
	// DeleteWebhook removes a webhook and its deliveries (ENotFound).
	DeleteWebhook(ctx context.Context, id string) error
	// ListDeliveries lists a webhook's deliveries newest first, with IDs
	// below before (0: from the newest), at most limit.
	ListDeliveries(ctx context.Context, webhookID string, before int64, limit int) ([]*herm.Delivery, error)
	// ClaimDeliveries takes up to limit pending deliveries due at now,
	// oldest first, leasing them until now+lease.
	ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*herm.Delivery, error)
	// UpdateDelivery records an attempt's outcome (ENotFound).
	UpdateDelivery(ctx context.Context, d *herm.Delivery) error

	// Steering requests.

	// CreateSteeringRequest stores s (ENotFound when its run does not exist,
	// EConflict when the run already has a request for this tool call).
	CreateSteeringRequest(ctx context.Context, s *herm.SteeringRequest) error
	// GetSteeringRequest returns a request of the deployment (ENotFound).
	GetSteeringRequest(ctx context.Context, deploymentID, id string) (*herm.SteeringRequest, error)
	// SteeringRequestFor returns the request of a run's tool call
	// (ENotFound).
	SteeringRequestFor(ctx context.Context, runID, toolCallID string) (*herm.SteeringRequest, error)
	// ListSteeringRequests lists requests matching f, newest first.
	ListSteeringRequests(ctx context.Context, f herm.SteeringFilter) ([]*herm.SteeringRequest, error)
	// ResolveSteeringRequest records a pending request's decision and
	// message, guarded by the request being pending (ENotFound; EConflict
	// when it is not: of two racing resolutions one wins). Like a run
	// transition it takes the request's run first, then the request.
	ResolveSteeringRequest(ctx context.Context, id, decision, message string, at time.Time) error
	// ExpiredSteeringRequests returns up to limit pending requests whose
	// expiry is at or before now, oldest expiry first.
	ExpiredSteeringRequests(ctx context.Context, now time.Time, limit int) ([]*herm.SteeringRequest, error)

	// Runs.

	// CreateRun stores r, lease fields included (ENotFound when its thread
	// does not exist, EConflict when the ID is taken).
	CreateRun(ctx context.Context, r *herm.Run) error
	// GetRun returns a run of the deployment (ENotFound).
	GetRun(ctx context.Context, deploymentID, runID string) (*herm.Run, error)
	// ListRuns lists runs matching f, newest first.
	ListRuns(ctx context.Context, f herm.RunFilter) ([]*herm.Run, error)
	// ActiveRuns returns the thread's runs whose status is queued, running or
	// waiting_on_human, oldest first. Inside InTx it holds the thread and
	// then these runs until the transaction ends, so that the answer stays
	// true while the transaction acts on it: another ActiveRuns of the
	// thread waits (two Sends to a thread do not both find it idle), and so
	// does a transition of these runs (a run does not end between the Send
	// that read it active and the Send's SteerRun, CancelRun or resolution).
	ActiveRuns(ctx context.Context, threadID string) ([]*herm.Run, error)
	// UpdateRun stores r's config_version, model and usage (never its
	// status: that changes only through the transitions below), provided
	// owner holds the run's lease and the run is running (an expired lease
	// that nobody else claimed still counts as held), and sets
	// r.CancelRequested when a cancel of the run was requested. EConflict
	// when the lease is lost, ENotFound when the run does not exist.
	UpdateRun(ctx context.Context, r *herm.Run, owner string) error
	// SetRunOutput stores the output (JSON valid against the run's output
	// schema) of a running run held by owner, in the transaction that
	// completes it (EConflict when the lease is lost).
	SetRunOutput(ctx context.Context, runID, owner string, output json.RawMessage) error
	// ClaimObservation takes, for the memory observer, the oldest ended
	// (completed, error or cancelled) run not yet observed of a deployment
	// owner owns, and marks it observed in the same guarded statement: two
	// claims never take one run, and a run is observed at most once. Nil
	// when there is none.
	ClaimObservation(ctx context.Context, owner string) (*herm.Run, error)
	// AddRunUsage adds u to an ended run's usage (the observer's model
	// call, made after the run ended), so that the run's cost and the
	// deployment's spend include it (ENotFound when the run does not exist).
	AddRunUsage(ctx context.Context, runID string, u herm.Usage) error

	// Dreams.

	// DreamCandidates lists (at most limit, oldest dream first) the IDs of
	// the ready deployments owner owns with features.dreaming on that are
	// idle — no queued, running or waiting run, no thread active and no run
	// ended since idleSince — and were not dreamed since dreamedBefore.
	DreamCandidates(ctx context.Context, owner string, idleSince, dreamedBefore time.Time, limit int) ([]string, error)
	// ClaimDream marks a deployment dreamed at now, in one guarded
	// statement, when it is still idle since idleSince and was not dreamed
	// since dreamedBefore; it reports whether it won (two claimers never
	// both do).
	ClaimDream(ctx context.Context, deploymentID string, now, idleSince, dreamedBefore time.Time) (bool, error)
	// CreateDream stores a dream (ENotFound when its deployment does not
	// exist).
	CreateDream(ctx context.Context, d *herm.Dream) error
	// GetDream returns a deployment's dream (ENotFound).
	GetDream(ctx context.Context, deploymentID, dreamID string) (*herm.Dream, error)
	// ListDreams lists a deployment's dreams, newest first, after cursor.
	ListDreams(ctx context.Context, deploymentID, cursor string, limit int) ([]*herm.Dream, error)
	// ResolveDream moves a proposed dream to status (applied or discarded)
	// at at, in one guarded statement: ENotFound, or EConflict when the
	// dream is not proposed (any more).
	ResolveDream(ctx context.Context, deploymentID, dreamID, status string, at time.Time) (*herm.Dream, error)

	RunTransitions

	// CountRunsByStatus counts runs per status, for metrics.
	CountRunsByStatus(ctx context.Context) (map[herm.RunStatus]int64, error)

	// Transcript.

	// AppendStep stores a step; EConflict if (RunID, Index) exists, ENotFound
	// when the run does not exist.
	AppendStep(ctx context.Context, s *herm.RunStep) error
	// ListSteps returns a run's steps in order.
	ListSteps(ctx context.Context, runID string) ([]*herm.RunStep, error)
	// LatestCompaction returns the newest compaction step of a thread's
	// runs (ENotFound when there is none).
	LatestCompaction(ctx context.Context, threadID string) (*herm.RunStep, error)

	// Events.

	// AppendEvents assigns each event the next sequence number of its
	// deployment (increasing by exactly one, in slice order) and stores them.
	// Each event of a hidden deployment (herm.Deployment.AgentID set: its
	// threads are sessions') in its thread's sequence
	// (herm.InThreadSequence) is given the next number of that sequence too
	// (ThreadSeq, increasing by exactly one per thread, in slice order).
	// The other events get ThreadSeq 0: those outside the sequences, those
	// whose thread does not exist in their deployment, and every event of
	// a first-generation deployment (AgentID ""), whose threads have no
	// sequence (ThreadEventBounds gives 0, 0, ListThreadEvents nothing):
	// nothing reads it, and numbering costs every append a counter's write
	// and an index entry per event. Whether a deployment is hidden comes
	// with its sequence numbers, at no query more. CreatedAt is set when
	// zero. ENotFound when a deployment does not exist.
	AppendEvents(ctx context.Context, evs []*herm.Event) error
	// ListEvents returns a deployment's events with sequence > after, oldest
	// first, at most limit (100 when limit <= 0), filtered by f.
	ListEvents(ctx context.Context, deploymentID string, after int64, limit int, f EventFilter) ([]*herm.Event, error)
	// EventBounds returns the lowest retained sequence (0 when the log is
	// empty) and the last sequence ever assigned (0 when none) of a deployment
	// (ENotFound when the deployment does not exist).
	EventBounds(ctx context.Context, deploymentID string) (first, last int64, err error)
	// ListThreadEvents returns a thread's events in its sequence with
	// ThreadSeq > after, in order, at most limit (100 when limit <= 0); none
	// when the thread does not exist in the deployment, and for a
	// first-generation deployment's thread (see AppendEvents).
	ListThreadEvents(ctx context.Context, deploymentID, threadID string, after int64, limit int) ([]*herm.Event, error)
	// ThreadEventBounds returns the lowest retained number of a thread's
	// sequence (0 when none is retained) and the last number ever assigned
	// in it (0 when none) (ENotFound when the thread does not exist in the
	// deployment).
	ThreadEventBounds(ctx context.Context, deploymentID, threadID string) (first, last int64, err error)
	// DeleteEventsBefore removes events created before t (retention), and
	// webhook deliveries made before t. The sequences go on: the next
	// numbers, the deployments' and the threads', are those they would
	// have been.
	DeleteEventsBefore(ctx context.Context, t time.Time) (int64, error)
}

// EventFilter narrows ListEvents. Empty fields match everything.
type EventFilter struct {
	ThreadID string
	RunID    string
	Types    []string
}

// Match reports whether e passes the filter.
func (f EventFilter) Match(e *herm.Event) bool {
	if f.ThreadID != "" && e.ThreadID != f.ThreadID {
		return false
	}
	if f.RunID != "" && e.RunID != f.RunID {
		return false
	}
	if len(f.Types) > 0 {
		for _, t := range f.Types {
			if t == e.Type {
				return true
			}
		}
		return false
	}
	return true
}

// RunTransitions are the only ways a run's status changes (besides
// CreateRun, which makes a queued run). Each is one guarded write whose
// precondition is in its WHERE, on the run row first and only then on other
// tables (messages, steering requests), so that of two racing transitions
// at most one wins, also across connections and nodes: the loser gets an
// error and changes nothing. Inside InTx the transaction must be rolled
// back when a transition fails (return its error from fn).
//
//	queued ──ClaimRun──▶ running ──CompleteRun──▶ completed
//	   │                  │  ▲ ──FailRun───────▶ error
//	   │                  │  │ ──EndCancelled──▶ cancelled
//	   │                  │  └─ClaimRun (lease expired: ReleaseRun, ReleaseRunsOf)
//	   │       WaitForHuman  ResumeRun
//	   │                  ▼  │
//	   │            waiting_on_human
//	   └──CancelRun──▶ cancelled       (CancelRun of a running or waiting
//	                                   run only requests it: cancel_requested)
type RunTransitions interface {
	// ClaimRun takes one run of a deployment owner owns (a node: see
	// AdoptDeployment) that may start or resume and leases it to owner
	// until leaseUntil, setting status running (and started_at when unset).
	// Candidates, in this order: running runs whose lease has expired (a
	// lease expires at its expiry time: LeaseExpiresAt <= now), oldest first;
	// then the oldest queued run whose thread has no running or
	// waiting_on_human run and no older queued run. "Oldest" is the order
	// in which the database took the runs (not any node's clock). Returns
	// (nil, nil) when there is none. Two
	// concurrent claims never take the same run, nor two runs of one thread.
	ClaimRun(ctx context.Context, owner string, now, leaseUntil time.Time) (*herm.Run, error)
	// ReleaseRun expires, as of now, the lease owner holds on a running run
	// (a graceful shutdown), so that any runner may claim it at once.
	// EConflict when owner does not hold it, ENotFound when the run does not
	// exist.
	ReleaseRun(ctx context.Context, runID, owner string, now time.Time) error
	// ReleaseRunsOf expires the leases of every running run held by owners
	// other than owner as of now, so that they are taken over at once (a
	// ClaimRun with the same now takes them; used at start-up
	// by a single-node server, whose previous process is known to be gone).
	ReleaseRunsOf(ctx context.Context, exceptOwner string, now time.Time) (int64, error)
	// SteerRun checks, holding the run row until the transaction ends, that
	// a run may take steering input (a pending message): it is queued or
	// running. It returns the run. A CompleteRun racing with it either
	// completes first (SteerRun then fails) or sees the input. EConflict when
	// the run is in another status, ENotFound when it does not exist.
	SteerRun(ctx context.Context, runID string) (*herm.Run, error)
	// CompleteRun ends a running run held by owner as completed with
	// stopReason at time at, only when the run has no pending input.
	// EConflict wrapping ErrInputPending when input is pending (nothing
	// changes), EConflict when the lease is lost, ENotFound when the run
	// does not exist.
	CompleteRun(ctx context.Context, runID, owner, stopReason string, at time.Time) error
	// FailRun ends a running run held by owner in status error (stop_reason
	// error) with e at time at. Its pending input, if any, stays for the
	// caller to release. EConflict when the lease is lost, ENotFound when
	// the run does not exist.
	FailRun(ctx context.Context, runID, owner string, e *herm.ErrorInfo, at time.Time) error
	// EndCancelled ends a running run held by owner as cancelled
	// (stop_reason cancelled) at time at: the owner's answer to CancelRun.
	// EConflict when the lease is lost, ENotFound when the run does not
	// exist.
	EndCancelled(ctx context.Context, runID, owner string, at time.Time) error
	// CancelRun cancels a queued, running or waiting_on_human run and returns
	// it as it is now: a queued run is cancelled at once (status cancelled,
	// stop_reason cancelled, completed_at at); a running or waiting one gets
	// cancel_requested, and its owner (or whoever resumes it) ends it.
	// EConflict when the run already ended, ENotFound when it does not
	// exist.
	CancelRun(ctx context.Context, runID string, at time.Time) (*herm.Run, error)
	// WaitForHuman moves a running run held by owner to waiting_on_human,
	// unless a cancel was requested. EConflict wrapping ErrCancelRequested
	// when it was (nothing changes), EConflict when the lease is lost,
	// ENotFound when the run does not exist.
	WaitForHuman(ctx context.Context, runID, owner string) error
	// ResumeRun moves a waiting_on_human run that has no pending steering
	// request back to running with an expired lease, so that ClaimRun takes
	// it and it resumes from its transcript. It returns false (and changes
	// nothing) while a request of the run is still pending. EConflict when
	// the run is not waiting, ENotFound when it does not exist.
	ResumeRun(ctx context.Context, runID string) (bool, error)
}

// Errors that transitions wrap in an EConflict herm.Error, so that the
// caller learns why it lost.
var (
	// ErrInputPending: CompleteRun refused, the run has input to take in.
	ErrInputPending = errors.New("the run has pending input")
	// ErrCancelRequested: WaitForHuman refused, the run is being cancelled.
	ErrCancelRequested = errors.New("a cancel of the run was requested")
)
