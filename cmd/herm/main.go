// Command herm is Herm's single binary: the server (serve), a guided first
// run (quickstart), database migrations (migrate) and its version.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // automations' time zones also where the system has no zone files

	"github.com/hermhq/herm/internal/sandbox/agent"
	"github.com/hermhq/herm/internal/sandbox/local"
)

func main() {
	// A local sandbox's init and a container sandbox's agent are this
	// binary re-executed: they must do nothing else first.
	local.MaybeRunInit()
	agent.MaybeRunInContainer()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.As(err, new(reportedError)) {
			fmt.Fprintln(os.Stderr, "herm:", err)
		}
		os.Exit(1)
	}
}
