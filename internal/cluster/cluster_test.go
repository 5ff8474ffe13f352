package cluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// within waits for cond, failing the test after d.
func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLocal(t *testing.T) {
	t.Parallel()
	l := NewLocal()
	a, cancelA := l.Subscribe(Events)
	b, _ := l.Subscribe(Events)
	other, _ := l.Subscribe(Cancel)
	if err := l.Notify(context.Background(), Events, "dep_1 42"); err != nil {
		t.Fatal(err)
	}
	if got := <-a; got != "dep_1 42" {
		t.Fatalf("a got %q", got)
	}
	if got := <-b; got != "dep_1 42" {
		t.Fatalf("b got %q", got)
	}
	select {
	case got := <-other:
		t.Fatalf("another channel's subscriber got %q", got)
	default:
	}
	cancelA()
	cancelA() // twice is fine
	if _, ok := <-a; ok {
		t.Fatal("a cancelled subscription still delivers")
	}
	// A subscriber that does not read never blocks a sender.
	for i := range subscriberBuffer * 3 {
		if err := l.Notify(context.Background(), Events, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if len(b) != subscriberBuffer {
		t.Fatalf("a slow subscriber holds %d signals", len(b))
	}
	if err := l.Notify(context.Background(), Events, strings.Repeat("x", MaxPayload+1)); err == nil {
		t.Fatal("an oversized payload was sent")
	}
	if err := l.Notify(context.Background(), "", "x"); err == nil {
		t.Fatal("an empty channel name was accepted")
	}
	l.Close()
	if _, ok := <-other; ok {
		t.Fatal("a subscription outlives Close")
	}
	if !(Always{}).IsLeader() {
		t.Fatal("the single binary does not lead")
	}
}

// postgresURL returns the test database with an application name of its
// own (to find this test's connections), or skips.
func postgresURL(t *testing.T, app string) string {
	t.Helper()
	raw := os.Getenv("HERM_TEST_POSTGRES_URL")
	if raw == "" {
		t.Skip("HERM_TEST_POSTGRES_URL is not set: no PostgreSQL to test against")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	return u.String()
}

// terminate ends the database sessions of an application name, as a
// network failure or a dead node would.
func terminate(t *testing.T, admin, app string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("no session of %s to terminate", app)
	}
}

// Two nodes: a signal from one reaches the subscribers of both, also on a
// channel subscribed after the start and after the listening connection
// was lost.
func TestPostgresNotifier(t *testing.T) {
	t.Parallel()
	tag := fmt.Sprintf("herm_test_%d", rand.Int64())
	admin := postgresURL(t, tag+"_admin")
	ctx := context.Background()
	opts := func(app string) PostgresOptions {
		return PostgresOptions{ConnString: postgresURL(t, app), Retry: 50 * time.Millisecond}
	}
	a, err := NewPostgresNotifier(ctx, opts(tag+"_a"), Events)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := NewPostgresNotifier(ctx, opts(tag+"_b"), Events)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	channel := tag // a channel of this test's own: other tests' signals do not cross it
	subA, _ := a.Subscribe(channel)
	subB, _ := b.Subscribe(channel)
	// expect sends until both nodes got one (a channel subscribed after the
	// start is listened to within half a second).
	expect := func(what string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		gotA, gotB := false, false
		for !(gotA && gotB) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: node a got it %v, node b %v", what, gotA, gotB)
			}
			if err := a.Notify(ctx, channel, what); err != nil {
				t.Fatal(err)
			}
			timeout := time.After(200 * time.Millisecond)
		drain:
			for {
				select {
				case p := <-subA:
					gotA = gotA || p == what
				case p := <-subB:
					gotB = gotB || p == what
				case <-timeout:
					break drain
				}
			}
		}
	}
	expect("dep_1 1")
	terminate(t, admin, tag+"_b")
	within(t, 15*time.Second, "node b listens again", func() bool { return !b.Listening() })
	expect("dep_1 2")
	if !b.Listening() {
		t.Fatal("node b got a signal without listening")
	}
	q, args := a.NotifyQuery(channel, "in a transaction")
	tx, err := a.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, q, args...); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-subB:
		t.Fatalf("a rolled-back transaction's signal arrived: %q", p)
	case <-time.After(300 * time.Millisecond):
	}
}

// Of two nodes exactly one leads; when it stops, or its connection dies,
// the other takes over.
func TestPostgresLeader(t *testing.T) {
	t.Parallel()
	tag := fmt.Sprintf("herm_test_%d", rand.Int64())
	admin := postgresURL(t, tag+"_admin")
	key := rand.Int64() // a lock of this test's own
	leader := func(app string) *PostgresLeader {
		return NewPostgresLeader(context.Background(), PostgresOptions{ConnString: postgresURL(t, app), Retry: 50 * time.Millisecond, LockKey: key})
	}
	a, b := leader(tag+"_a"), leader(tag+"_b")
	defer a.Close()
	defer b.Close()
	within(t, 15*time.Second, "one of two nodes leads", func() bool { return a.IsLeader() || b.IsLeader() })
	for range 20 {
		if a.IsLeader() && b.IsLeader() {
			t.Fatal("two leaders")
		}
		time.Sleep(10 * time.Millisecond)
	}
	first, second, app := a, b, tag+"_a"
	if b.IsLeader() {
		first, second, app = b, a, tag+"_b"
	}
	// Its connection dies: the other takes over, and the first no longer
	// thinks it leads.
	terminate(t, admin, app)
	within(t, 15*time.Second, "the other node takes over", func() bool { return second.IsLeader() })
	within(t, 15*time.Second, "the first node knows it lost", func() bool { return !first.IsLeader() })
	// The new leader stops: the first takes it back.
	second.Close()
	if second.IsLeader() {
		t.Fatal("a closed leader leads")
	}
	within(t, 15*time.Second, "the first node leads again", func() bool { return first.IsLeader() })
}

// One server per database until the cluster is built: a second is
// refused while the first holds the lock, and gets it after.
func TestExclusive(t *testing.T) {
	t.Parallel()
	tag := fmt.Sprintf("herm_test_%d", rand.Int64())
	admin := postgresURL(t, tag+"_admin")
	key := fmt.Sprint("test-", rand.Int64()) // a lock of this test's own
	opts := func(app string) PostgresOptions {
		return PostgresOptions{ConnString: postgresURL(t, app), Retry: 50 * time.Millisecond}
	}
	release, lost, err := Exclusive(context.Background(), opts(tag+"_a"), key)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Exclusive(context.Background(), opts(tag+"_b"), key); err != ErrAnotherServer {
		t.Fatalf("a second server: %v", err)
	}
	release()
	release() // twice is fine
	release2, lost2, err := Exclusive(context.Background(), opts(tag+"_b"), key)
	if err != nil {
		t.Fatalf("after the first let go: %v", err)
	}
	defer release2()
	select {
	case <-lost:
		t.Fatal("a released lock reports a lost connection")
	default:
	}
	terminate(t, admin, tag+"_b")
	select {
	case <-lost2:
	case <-time.After(15 * time.Second):
		t.Fatal("a lost connection is not reported")
	}
}

// The lock is the schema's as the database resolves it, not as a URL
// spells it: the default path and search_path=public are one schema;
// another schema is another lock.
func TestExclusivePerSchema(t *testing.T) {
	t.Parallel()
	tag := fmt.Sprintf("herm_test_%d", rand.Int64())
	base := postgresURL(t, tag)
	name := fmt.Sprint("test-", rand.Int64())
	with := func(params string) PostgresOptions {
		return PostgresOptions{ConnString: base + params, Retry: 50 * time.Millisecond}
	}
	release, _, err := Exclusive(context.Background(), with(""), name)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	for _, p := range []string{"&search_path=public", "&search_path=%22public%22"} {
		if _, _, err := Exclusive(context.Background(), with(p), name); err != ErrAnotherServer {
			t.Errorf("%s: %v, want the schema's lock taken", p, err)
		}
	}
	conn, err := pgx.Connect(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "CREATE SCHEMA "+tag); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(context.Background(), "DROP SCHEMA "+tag+" CASCADE")
	other, _, err := Exclusive(context.Background(), with("&search_path="+tag), name)
	if err != nil {
		t.Fatalf("another schema: %v", err)
	}
	other()
}

// Clusters on two schemas of one database do not hear each other's
// signals and each has its own leader.
func TestPostgresPerSchema(t *testing.T) {
	t.Parallel()
	tag := fmt.Sprintf("herm_test_%d", rand.Int64())
	base := postgresURL(t, tag)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, s := range []string{tag + "_x", tag + "_y"} {
		if _, err := conn.Exec(ctx, "CREATE SCHEMA "+s); err != nil {
			t.Fatal(err)
		}
		defer conn.Exec(ctx, "DROP SCHEMA "+s+" CASCADE")
	}
	opts := func(schema string) PostgresOptions {
		return PostgresOptions{ConnString: base + "&search_path=" + schema, Retry: 50 * time.Millisecond}
	}
	x, err := NewPostgresNotifier(ctx, opts(tag+"_x"), Wake)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	x2, err := NewPostgresNotifier(ctx, opts(tag+"_x"), Wake)
	if err != nil {
		t.Fatal(err)
	}
	defer x2.Close()
	y, err := NewPostgresNotifier(ctx, opts(tag+"_y"), Wake)
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close()
	subX2, _ := x2.Subscribe(Wake)
	subY, _ := y.Subscribe(Wake)
	within(t, 15*time.Second, "listening", func() bool { return x.Listening() && x2.Listening() && y.Listening() })
	got := false
	for deadline := time.Now().Add(15 * time.Second); !got && time.Now().Before(deadline); {
		if err := x.Notify(ctx, Wake, "dep_x"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-subX2:
			got = true
		case p := <-subY:
			t.Fatalf("schema y heard schema x's signal %q", p)
		case <-time.After(200 * time.Millisecond):
		}
	}
	if !got {
		t.Fatal("a node of the same schema did not hear the signal")
	}
	select {
	case p := <-subY:
		t.Fatalf("schema y heard schema x's signal %q", p)
	case <-time.After(300 * time.Millisecond):
	}

	lx, ly := NewPostgresLeader(ctx, opts(tag+"_x")), NewPostgresLeader(ctx, opts(tag+"_y"))
	defer lx.Close()
	defer ly.Close()
	within(t, 15*time.Second, "each schema has its leader", func() bool { return lx.IsLeader() && ly.IsLeader() })
	lx2 := NewPostgresLeader(ctx, opts(tag+"_x"))
	defer lx2.Close()
	time.Sleep(300 * time.Millisecond)
	if lx2.IsLeader() {
		t.Fatal("two leaders on one schema")
	}
}

// Servers hold the schema's lock shared, any number of them; an exclusive
// holder (herm migrate) is refused while one does, and refuses them.
func TestShared(t *testing.T) {
	t.Parallel()
	tag := fmt.Sprintf("herm_test_%d", rand.Int64())
	key := fmt.Sprint("test-", rand.Int64())
	opts := PostgresOptions{ConnString: postgresURL(t, tag), Retry: 50 * time.Millisecond}
	ctx := context.Background()
	r1, _, err := Shared(ctx, opts, key)
	if err != nil {
		t.Fatal(err)
	}
	r2, _, err := Shared(ctx, opts, key)
	if err != nil {
		t.Fatalf("a second shared holder: %v", err)
	}
	if _, _, err := Exclusive(ctx, opts, key); err != ErrAnotherServer {
		t.Fatalf("exclusive while shared: %v", err)
	}
	r1()
	r2()
	x, _, err := Exclusive(ctx, opts, key)
	if err != nil {
		t.Fatalf("exclusive after the shared holders left: %v", err)
	}
	if _, _, err := Shared(ctx, opts, key); err != ErrAnotherServer {
		t.Fatalf("shared while exclusive: %v", err)
	}
	x()
}
