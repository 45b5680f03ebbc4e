package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/shoaldb/shoal/core/live"
	"github.com/shoaldb/shoal/scenarios/library"
	"github.com/shoaldb/shoal/scenarios/liverun"
	"github.com/shoaldb/shoal/scenarios/rundir"
)

const liveRunUsage = `usage: shoal live run FILE|NAME [--nodes N] [--seed N] [--out DIR] [--bug NAME]... [--bin PATH] [--token TOKEN] [--objects-api rest|graphql]

Runs a scenario against a real cluster: N shoal serve processes on
loopback, each peer link routed through a proxy the harness controls. The
scenario's clients use the HTTP API and record a history; its partitions
and link faults are applied in the proxy, kills as SIGKILL and a restart,
pauses as SIGSTOP/SIGCONT. The same checkers judge the merged trace, and
the run directory and report are those of shoal sim run, with each
instance's log and trace under nodes/. Clock and disk faults cannot be
applied to real processes: the report lists them. Every process the run
starts is stopped by its PID before it ends, also on Ctrl-C.

--token runs with authentication on: the token becomes the cluster's
first API token, an admin's, a request without it must be refused, and
every request of the run carries it.

--objects-api graphql sends the objects workloads' reads, writes and
deletes through POST /v1/graphql instead of the REST data API (stale
reads stay REST, and so do the final reads, so each API is checked
against the other); the scenario's model must not change.

A live run is not deterministic: the seed draws the faults' and clients'
choices, the machine does the timing. shoal check DIR judges it again;
it cannot be replayed.

built-in scenarios (shoal sim list describes them): %s

flags:
`

func runLiveRun(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("shoal live run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, liveRunUsage, strings.Join(library.Names(), ", "))
		fs.PrintDefaults()
	}
	nodes := fs.Int("nodes", 0, "how many instances to start (default: the scenario's; 1 to 9)")
	seed := fs.Uint64("seed", 1, "the seed the faults' and clients' choices are drawn from")
	out := fs.String("out", "", "run directory to create (default runs/live-NAME-seed-N)")
	var bugNames listFlag
	fs.Var(&bugNames, "bug", "switch a planted bug on in every instance (repeatable; needs a shoalbugs build)")
	bin := fs.String("bin", "", "the shoal binary the instances run (default: this one)")
	verbose := fs.Bool("v", false, "log what the harness does to stderr")
	token := fs.String("token", "", "turn authentication on: once the cluster is ready, make `TOKEN` its first API token (an admin's; at least 32 bytes) and send it with every request of the run")
	objectsAPI := fs.String("objects-api", "rest", "the API the objects workloads' operations go through: `rest` or graphql")
	pos, done, code, err := parseArgs(fs, args, 1, "one scenario file or built-in name")
	if done {
		return code, err
	}
	s, err := loadScenario(pos[0])
	if err != nil {
		return exitUsage, err
	}
	if *token != "" {
		if why := live.SuppliedTokenProblem(*token); why != "" {
			return exitUsage, usagef("--token: %s", why)
		}
	}
	if *objectsAPI != "rest" && *objectsAPI != "graphql" {
		return exitUsage, usagef("--objects-api %q: want rest or graphql", *objectsAPI)
	}
	if *objectsAPI == "graphql" {
		if err := liverun.CheckGraphQL(s); err != nil {
			return exitUsage, usagef("--objects-api graphql: %v", err)
		}
	}
	if *nodes < 0 || *nodes > liverun.MaxNodes {
		return exitUsage, usagef("--nodes %d: want 1 to %d", *nodes, liverun.MaxNodes)
	}
	// Refuse a scenario that does not fit the cluster before any process
	// starts.
	if _, _, err := liverun.Adapt(s, *nodes); err != nil {
		return exitUsage, usageError{err.Error()}
	}
	binary := *bin
	if binary == "" {
		if binary, err = os.Executable(); err != nil {
			return exitInternal, err
		}
		// The instances run this binary, so it must have the bugs.
		for _, b := range bugNames {
			if err := checkBug(b); err != nil {
				return exitUsage, err
			}
		}
	} else if _, err := os.Stat(binary); err != nil {
		return exitUsage, usagef("--bin: %v", err)
	}
	dir := *out
	if dir == "" {
		dir = freeDir(filepath.Join("runs", fmt.Sprintf("live-%s-seed-%d", s.Name, *seed)))
	}
	if err := rundir.Create(dir); err != nil {
		return exitUsage, usageError{err.Error()}
	}
	command := fmt.Sprintf("shoal live run %s --seed %d", pos[0], *seed)
	if *nodes != 0 {
		command += fmt.Sprintf(" --nodes %d", *nodes)
	}
	for _, b := range bugNames {
		command += " --bug " + b
	}
	if *token != "" {
		command += " --token TOKEN" // the run directory never holds the token
	}
	if *objectsAPI != "rest" {
		command += " --objects-api " + *objectsAPI
	}
	opts := liverun.Options{Binary: binary, Nodes: *nodes, Seed: *seed, Bugs: bugNames, Dir: dir, Command: command,
		Version: version, Commit: commit(), Token: *token, GraphQL: *objectsAPI == "graphql"}
	if *verbose {
		opts.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	clearProgress := func() {}
	if width, ok := terminal(stdout); ok {
		line := newStatusLine(stdout, width)
		opts.Progress = func(elapsed, total time.Duration) {
			line.setSoon(fmt.Sprintf("%s: live %s of %s (%d%%)", s.Name, elapsed.Round(time.Second), total, percent(elapsed, total)))
		}
		clearProgress = line.clear
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	o, err := liverun.Run(ctx, s, opts)
	clearProgress()
	if err != nil {
		return exitInternal, fmt.Errorf("%w (the instances' logs are under %s)", err, filepath.Join(dir, "nodes"))
	}
	clients := 0
	for _, wl := range s.Workloads {
		clients += wl.Clients
	}
	fmt.Fprintf(stdout, "%s, seed %d, live: %d shoal serve processes, %d clients; %s of wall time (%d trace lines)\n",
		s.Name, o.Meta.Seed, o.Meta.Live.Instances, clients, time.Since(start).Round(time.Millisecond), o.Meta.TraceEvents)
	for _, u := range o.Meta.Live.Unapplied {
		fmt.Fprintf(stdout, "  not done as the scenario says: %s\n", u)
	}
	printJudged(stdout, s, o.Meta, o.Records, o.Results)
	fmt.Fprintf(stdout, "report: %s\n", filepath.Join(dir, rundir.ReportFile))
	return o.Results.Verdict.ExitCode(), nil
}
