package sandbox

import (
	"context"
	"testing"

	"github.com/hermhq/herm/internal/herm"
)

// fakeDriver is a driver that runs nothing; limited ones have defaults.
type fakeDriver struct {
	name     string
	defaults *herm.Resources
}

func (f fakeDriver) Name() string                                  { return f.name }
func (f fakeDriver) Check(context.Context) error                   { return nil }
func (f fakeDriver) Ensure(context.Context, Spec) (Sandbox, error) { return nil, ErrUnavailable }
func (f fakeDriver) Destroy(context.Context, string) error         { return nil }
func (f fakeDriver) Close(context.Context) error                   { return nil }

type limitedDriver struct{ fakeDriver }

func (l limitedDriver) DefaultLimits() herm.Resources { return *l.defaults }

// A deployment's limits are those it sets and its driver's defaults for
// the others; a driver without limits reports them as set.
func TestManagerLimits(t *testing.T) {
	def := herm.Resources{CPU: 1, MemoryMB: 1024, PIDs: 512}
	m, err := NewManager("limited", limitedDriver{fakeDriver{"limited", &def}}, fakeDriver{name: "plain"})
	if err != nil {
		t.Fatal(err)
	}
	dep := func(typ string, r herm.Resources) *herm.Deployment {
		return &herm.Deployment{ID: "dep_1", Sandbox: herm.Sandbox{Type: typ, Resources: r}}
	}
	cases := []struct {
		d    *herm.Deployment
		want herm.Resources
	}{
		{dep("limited", herm.Resources{}), def},
		{dep("limited", herm.Resources{PIDs: 64, DiskMB: 5}), herm.Resources{CPU: 1, MemoryMB: 1024, PIDs: 64, DiskMB: 5}},
		{dep("limited", herm.Resources{CPU: 2.5, MemoryMB: 64}), herm.Resources{CPU: 2.5, MemoryMB: 64, PIDs: 512}},
		{dep("plain", herm.Resources{DiskMB: 5}), herm.Resources{DiskMB: 5}},
		{dep("unknown", herm.Resources{CPU: 3}), herm.Resources{CPU: 3}},
	}
	for _, c := range cases {
		if got := m.Limits(c.d); got != c.want {
			t.Errorf("%s %+v: %+v, want %+v", c.d.Sandbox.Type, c.d.Sandbox.Resources, got, c.want)
		}
	}
}
