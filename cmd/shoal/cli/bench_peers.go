package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shoaldb/shoal/core/live"
	"github.com/shoaldb/shoal/scenarios/liverun"
)

// The peers' versions: those of the clients in go.mod, so that each
// system is driven by its own client of the same release.
const (
	peersEtcdVersion = "v3.7.3"
	peersNATSVersion = "v2.15.2"
)

// peersStopGrace is how long a process has to exit after SIGTERM before
// it is killed.
const peersStopGrace = 10 * time.Second

// peersReadyTimeout bounds a cluster's start, from the first process to
// the last readiness check.
const peersReadyTimeout = 90 * time.Second

// peersPopulateClients is how many clients write the keys before the
// first run with reads.
const peersPopulateClients = 64

// peersBucket is the NATS KV bucket the runs use.
const peersBucket = "shoal-bench"

// peersConfig is one comparison: which clusters, mixes and concurrencies.
type peersConfig struct {
	command    string // as given, for the report
	cache      string
	out        string
	goCmd      string
	targets    []*peersTarget
	mixes      []string
	clients    []int
	duration   time.Duration
	warmup     time.Duration
	keys       int
	valueSize  int
	timeout    time.Duration
	cpuprofile bool // the shoal instances profile themselves
}

// peersTarget is one cluster the comparison starts and loads: a system
// with its servers' settings, and the read consistencies its runs use
// (the first also for the write mix, which has no reads).
type peersTarget struct {
	Name    string `json:"name"`
	System  string `json:"system"`
	Version string `json:"version"`
	// Durability says when a write is acknowledged; Short is it in a
	// few words, for the tables.
	Durability string   `json:"durability"`
	Short      string   `json:"durability_short"`
	Config     string   `json:"config"` // the settings chosen, as given to the servers
	Reads      []string `json:"read_consistencies"`
	// ReadNames are the reads' names in the system's own words, by
	// consistency (etcd's stale read is a serializable Get).
	ReadNames map[string]string `json:"read_names"`
}

// peersTargets are the clusters compared, in the order they run: shoal
// and etcd (fsync before the answer, by default), and NATS with and
// without sync_interval: always. NATS offers only direct gets, compared
// with shoal's stale reads and etcd's serializable ones.
func peersTargets() []*peersTarget {
	fsynced := "a majority (2 of 3) has the write in its log on disk, fsynced, before the answer"
	return []*peersTarget{
		{Name: "shoal", System: "shoal", Version: version + ", this checkout", Durability: fsynced, Short: "fsync, 2 of 3",
			Config: "shoal serve, defaults; --bootstrap-expect 3, every instance in the one replicaset",
			Reads:  []string{consistencyLinearizable, consistencyStale}, ReadNames: map[string]string{consistencyLinearizable: "linearizable", consistencyStale: "stale"}},
		{Name: "etcd", System: "etcd", Version: peersEtcdVersion, Durability: fsynced, Short: "fsync, 2 of 3",
			Config: "etcd, defaults (snapshot-count 10000, 100ms heartbeat, 1s election timeout)",
			Reads:  []string{consistencyLinearizable, consistencyStale}, ReadNames: map[string]string{consistencyLinearizable: "linearizable", consistencyStale: "serializable"}},
		{Name: "nats-always", System: "nats", Version: peersNATSVersion,
			Durability: "jetstream { sync_interval: always }: every replica fsyncs each write; the stream leader answers once a majority (2 of 3) stored it",
			Short:      "fsync, 2 of 3 (sync always)",
			Config:     "nats-server, jetstream { sync_interval: always }, a KV bucket with 3 replicas on file storage",
			Reads:      []string{consistencyStale}, ReadNames: map[string]string{consistencyStale: "direct get"}},
		{Name: "nats-default", System: "nats", Version: peersNATSVersion,
			Durability: "NATS's default: the stream leader answers once a majority (2 of 3) holds the write in memory; each server fsyncs every 2 minutes (sync_interval: 2m)",
			Short:      "memory, 2 of 3; fsync /2min",
			Config:     "nats-server, jetstream defaults, a KV bucket with 3 replicas on file storage",
			Reads:      []string{consistencyStale}, ReadNames: map[string]string{consistencyStale: "direct get"}},
	}
}

// peersTargetNames are the --targets names, in the order they run.
func peersTargetNames() []string {
	var names []string
	for _, t := range peersTargets() {
		names = append(names, t.Name)
	}
	return names
}

const benchPeersUsage = `usage: shoal bench peers [--cache DIR] [--out DIR] [--targets NAME,...] [--mixes write,read,mixed]
                         [--clients N,...] [--duration D] [--warmup D] [--keys N] [--value-size BYTES]
                         [--go PATH] [--shoal-cpuprofile]

Measures shoal beside etcd ` + peersEtcdVersion + ` and NATS ` + peersNATSVersion + ` JetStream KV on this machine, in
one run: performance claims are ratios measured side by side. It builds
the peers from the Go module proxy into --cache (once per version: a
binary already there is used), then starts one three-node cluster at a
time on loopback, its data in a temporary directory on the same disk,
and loads it with shoal bench's load generator through each system's own
Go client, at each --clients concurrency, in each mix.

Like is compared with like. Writes: shoal and etcd answer once a majority
has the write on disk; NATS does so only with sync_interval: always
(target nats-always), and by default answers once a majority holds it in
memory (nats-default); both NATS settings run, labelled. Reads: shoal's
and etcd's linearizable reads are compared with each other; NATS KV's
direct gets, which any caught-up replica answers, are compared with
shoal's stale reads and etcd's serializable ones.

It prints a table per mix (ops/s, p50, p99, p99.9 and shoal's throughput
over each row's) and writes peers.json, peers.html (bar charts, self-
contained) and the servers' logs to --out, whose path it prints. Every
process it starts is stopped by its PID (SIGTERM, then SIGKILL after
10s), also on Ctrl-C and on error.

targets: %s

Exits 0 when every run measured, 3 for bad usage, 4 when a build, a
cluster or a run failed (what was measured is still written).

flags:
`

// runBenchPeers is shoal bench peers: the flags, then benchPeers, then
// the tables and the report's path.
func runBenchPeers(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("shoal bench peers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	home, _ := os.UserHomeDir()
	var c peersConfig
	fs.StringVar(&c.cache, "cache", filepath.Join(home, ".cache", "shoal-peers"), "where the peers' binaries are kept, one per version")
	fs.StringVar(&c.out, "out", "", "the directory to write the report to (default: a new one under "+os.TempDir()+")")
	fs.StringVar(&c.goCmd, "go", "go", "the go command that builds the peers")
	targets := fs.String("targets", strings.Join(peersTargetNames(), ","), "the clusters to compare, in order")
	mixes := fs.String("mixes", strings.Join(benchMixes, ","), "the mixes to run on each")
	clients := fs.String("clients", "8,64", "the concurrencies to run each mix at")
	fs.DurationVar(&c.duration, "duration", 8*time.Second, "each run's measured window")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "each run's load before its window, not counted")
	fs.IntVar(&c.keys, "keys", 10000, "keys drawn uniformly")
	fs.IntVar(&c.valueSize, "value-size", 100, "bytes per written value")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "how long one request may take before it counts as a timeout")
	fs.BoolVar(&c.cpuprofile, "shoal-cpuprofile", false, "profile each shoal instance's CPU into --out/profiles (the whole life of the process)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, benchPeersUsage, strings.Join(peersTargetNames(), ", "))
		fs.PrintDefaults()
	}
	if _, done, code, err := parseArgs(fs, args, 0, "no argument"); done {
		return code, err
	}
	if err := c.resolve(*targets, *mixes, *clients); err != nil {
		return exitUsage, err
	}
	c.command = strings.Join(append([]string{"shoal bench peers"}, args...), " ")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, err := benchPeers(ctx, c, stderr)
	if rep == nil {
		return exitInternal, err
	}
	rep.printTables(stdout)
	fmt.Fprintf(stdout, "\nreport: %s\n", filepath.Join(rep.Out, "peers.html"))
	if err != nil {
		return exitInternal, err
	}
	return exitValid, nil
}

// resolve checks the flags and turns the lists into what they name.
func (c *peersConfig) resolve(targets, mixes, clients string) error {
	var problems []string
	names, err := parseNameList("--targets", targets, peersTargetNames())
	if err != nil {
		problems = append(problems, err.Error())
	}
	for _, n := range names {
		for _, t := range peersTargets() {
			if t.Name == n {
				c.targets = append(c.targets, t)
			}
		}
	}
	if c.mixes, err = parseNameList("--mixes", mixes, benchMixes); err != nil {
		problems = append(problems, err.Error())
	}
	if c.clients, err = parseClientsList(clients); err != nil {
		problems = append(problems, err.Error())
	}
	if c.duration <= 0 {
		problems = append(problems, fmt.Sprintf("--duration %s: want a positive duration", c.duration))
	}
	if c.warmup < 0 {
		problems = append(problems, fmt.Sprintf("--warmup %s: want zero or more", c.warmup))
	}
	if c.keys < 1 {
		problems = append(problems, fmt.Sprintf("--keys %d: want at least 1", c.keys))
	}
	if c.valueSize < 0 || c.valueSize > live.DefaultMaxBody/2 {
		problems = append(problems, fmt.Sprintf("--value-size %d: want 0 to %d bytes", c.valueSize, live.DefaultMaxBody/2))
	}
	if c.timeout <= 0 {
		problems = append(problems, fmt.Sprintf("--timeout %s: want a positive duration", c.timeout))
	}
	if c.cache == "" {
		problems = append(problems, "--cache: want a directory")
	}
	if len(problems) > 0 {
		return usageError{strings.Join(problems, "; ")}
	}
	return nil
}

// maxBenchClients bounds a concurrency in a --clients list: beyond it
// the load generator, not the system, is what gets measured.
const maxBenchClients = 4096

// parseClientsList reads a list of concurrencies such as "8,64": each a
// whole number from 1 to maxBenchClients, none twice.
func parseClientsList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > maxBenchClients {
			return nil, usagef("--clients %q: %q is not a number of clients from 1 to %d", s, f, maxBenchClients)
		}
		if slices.Contains(out, n) {
			return nil, usagef("--clients %q: %d given twice", s, n)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseNameList reads a comma-separated list of names from allowed, none
// twice, in the order given.
func parseNameList(flagName, s string, allowed []string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(allowed, f) {
			return nil, usagef("%s %q: %q is not one of %s", flagName, s, f, strings.Join(allowed, ", "))
		}
		if slices.Contains(out, f) {
			return nil, usagef("%s %q: %s given twice", flagName, s, f)
		}
		out = append(out, f)
	}
	return out, nil
}

// peersReport is the outcome of a comparison: peers.json.
type peersReport struct {
	Command  string        `json:"command"`
	Started  string        `json:"started"`
	WallS    float64       `json:"wall_s"`
	Host     peersHost     `json:"host"`
	Settings peersSettings `json:"settings"`
	Builds   []*peersBuild `json:"builds"`
	// BuildsWallS is the builds' wall time: they run side by side.
	BuildsWallS float64           `json:"builds_wall_s"`
	Targets     []*peersTargetRun `json:"targets"`
	Runs        []*peersRun       `json:"runs"`
	Failures    []string          `json:"failures,omitempty"`
	Out         string            `json:"out"`
}

// peersHost is the machine everything ran on, which the numbers are
// true of.
type peersHost struct {
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"` // the load generator's and shoal's
	Placement string `json:"placement"`
}

// peersSettings are what every run had in common.
type peersSettings struct {
	DurationS   float64  `json:"duration_s"`
	WarmupS     float64  `json:"warmup_s"`
	Clients     []int    `json:"clients"`
	Mixes       []string `json:"mixes"`
	Keys        int      `json:"keys"`
	ValueSize   int      `json:"value_size"`
	TimeoutS    float64  `json:"timeout_s"`
	Connections string   `json:"connections"`
}

// peersBuild is how a peer's binary was obtained.
type peersBuild struct {
	Name    string   `json:"name"`
	Version string   `json:"version"`
	Binary  string   `json:"binary"`
	Cached  bool     `json:"cached"`  // it was in the cache: not built
	Seconds float64  `json:"seconds"` // the build's wall time, downloads included
	Steps   []string `json:"steps"`
	Log     string   `json:"log,omitempty"`
	Error   string   `json:"error,omitempty"`
	system  string   // the system it serves
}

// peersTargetRun is one target's cluster as it ran.
type peersTargetRun struct {
	peersTarget
	// StartS is the time from the first process's start to the cluster's
	// readiness.
	StartS float64 `json:"start_s"`
	// PopulateS is the time it took to write every key once, before the
	// first run with reads.
	PopulateS float64  `json:"populate_s,omitempty"`
	Leader    string   `json:"leader,omitempty"` // of the data (shoal), of the KV stream (nats), of the cluster (etcd), after the runs
	Logs      []string `json:"logs"`
	// PIDs are the nodes' process IDs, each stopped before the report.
	PIDs []int `json:"pids"`
	// Profiles are the shoal instances' CPU profiles (--shoal-cpuprofile).
	Profiles []string `json:"profiles,omitempty"`
	Error    string   `json:"error,omitempty"`
}

// peersRun is one measured run.
type peersRun struct {
	Target          string       `json:"target"`
	Mix             string       `json:"mix"`
	Clients         int          `json:"clients"`
	ReadConsistency string       `json:"read_consistency,omitempty"`
	Report          *benchReport `json:"report,omitempty"`
	// ShoalRatio is shoal's ops/s over this run's, against shoal's run of
	// the same mix, clients and read consistency; 0 when either has none.
	ShoalRatio float64 `json:"shoal_ratio,omitempty"`
	Error      string  `json:"error,omitempty"`
}

// benchPeers builds the peers, runs every target's cluster in turn and
// writes the report. The report is returned whenever the output
// directory could be made, with the first failure as the error.
func benchPeers(ctx context.Context, c peersConfig, stderr io.Writer) (*peersReport, error) {
	began := time.Now()
	progress := func(format string, args ...any) {
		fmt.Fprintf(stderr, "shoal bench peers %s: %s\n", time.Since(began).Round(time.Second), fmt.Sprintf(format, args...))
	}
	out := c.out
	var err error
	if out == "" {
		out, err = os.MkdirTemp("", "shoal-bench-peers-")
	} else {
		err = os.MkdirAll(out, 0o755)
	}
	if err != nil {
		return nil, fmt.Errorf("the output directory: %w", err)
	}
	if out, err = filepath.Abs(out); err != nil {
		return nil, err
	}
	for _, d := range []string{"logs", "profiles"} {
		if err := os.MkdirAll(filepath.Join(out, d), 0o755); err != nil {
			return nil, fmt.Errorf("the output directory: %w", err)
		}
	}
	progress("writing to %s", out)
	rep := &peersReport{
		Command: c.command,
		Started: began.UTC().Format(time.RFC3339),
		Host: peersHost{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version(),
			Placement: "one machine: every server and the load generator share its CPUs, and the servers' data one disk (a temporary directory); loopback network"},
		Settings: peersSettings{DurationS: c.duration.Seconds(), WarmupS: c.warmup.Seconds(), Clients: c.clients, Mixes: c.mixes,
			Keys: c.keys, ValueSize: c.valueSize, TimeoutS: c.timeout.Seconds(), Connections: "one per client, the clients spread over the three servers round-robin"},
		Out: out,
	}
	// Whatever happens, write what there is.
	defer func() {
		rep.WallS = time.Since(began).Seconds()
		rep.ratios()
		if werr := rep.write(); werr != nil {
			rep.Failures = append(rep.Failures, werr.Error())
		}
	}()
	fail := func(msg string) {
		rep.Failures = append(rep.Failures, msg)
		progress("%s", msg)
	}

	buildStart := time.Now()
	bins, builds := buildPeers(ctx, c, out, progress)
	rep.Builds, rep.BuildsWallS = builds, time.Since(buildStart).Seconds()
	for _, b := range builds {
		if b.Error != "" {
			fail(fmt.Sprintf("building %s %s: %s (log: %s)", b.Name, b.Version, b.Error, b.Log))
		}
	}

	data, err := os.MkdirTemp("", "shoal-bench-peers-data-")
	if err != nil {
		fail(fmt.Sprintf("the data directory: %v", err))
		return rep, errors.New(rep.Failures[0])
	}
	defer os.RemoveAll(data)

	runs := peersPlan(c)
	progress("%d runs of %s + %s each, about %s of load", len(runs), c.warmup, c.duration, time.Duration(len(runs))*(c.warmup+c.duration))
	done := 0
	for _, t := range c.targets {
		tr := &peersTargetRun{peersTarget: *t}
		rep.Targets = append(rep.Targets, tr)
		var mine []*peersRun
		for _, r := range runs {
			if r.Target == t.Name {
				mine = append(mine, r)
			}
		}
		rep.Runs = append(rep.Runs, mine...)
		if ctx.Err() != nil {
			tr.Error = "not run: interrupted"
			for _, r := range mine {
				r.Error = tr.Error
			}
			continue
		}
		bin := bins[t.System]
		if bin == "" {
			tr.Error = "not run: no binary"
			for _, r := range mine {
				r.Error = tr.Error
			}
			continue
		}
		runTarget(ctx, c, tr, bin, filepath.Join(data, t.Name), out, mine, progress, &done, len(runs))
		if tr.Error != "" {
			fail(fmt.Sprintf("%s: %s", t.Name, tr.Error))
		}
		for _, r := range mine {
			if r.Error != "" && tr.Error == "" {
				fail(fmt.Sprintf("%s: %s", r.name(), r.Error))
			}
		}
	}
	if ctx.Err() != nil {
		fail("interrupted: " + ctx.Err().Error())
	}
	progress("done in %s", time.Since(began).Round(time.Second))
	if len(rep.Failures) > 0 {
		return rep, fmt.Errorf("%d failures, the first: %s", len(rep.Failures), rep.Failures[0])
	}
	return rep, nil
}

// peersPlan lists the runs: per target, each mix in turn (the write mix
// first, which needs no written keys), each of the target's read
// consistencies for a mix with reads, each concurrency.
func peersPlan(c peersConfig) []*peersRun {
	var runs []*peersRun
	for _, t := range c.targets {
		for _, mix := range c.mixes {
			reads := t.Reads
			if mix == mixWrite {
				reads = reads[:1]
			}
			for _, rc := range reads {
				for _, n := range c.clients {
					r := &peersRun{Target: t.Name, Mix: mix, Clients: n, ReadConsistency: rc}
					if mix == mixWrite {
						r.ReadConsistency = ""
					}
					runs = append(runs, r)
				}
			}
		}
	}
	return runs
}

// name is the run's target, mix, clients and read consistency.
func (r *peersRun) name() string {
	n := fmt.Sprintf("%s, %s mix, %d clients", r.Target, r.Mix, r.Clients)
	if r.ReadConsistency != "" {
		n += ", " + r.ReadConsistency + " reads"
	}
	return n
}

// runTarget starts the target's cluster, runs its runs on it and stops
// it; a failure is written into tr or the run.
func runTarget(ctx context.Context, c peersConfig, tr *peersTargetRun, bin, data, out string, runs []*peersRun, progress func(string, ...any), done *int, total int) {
	progress("%s: starting three nodes", tr.Name)
	t0 := time.Now()
	cl, err := startPeersCluster(ctx, tr, bin, data, out, c.cpuprofile)
	if cl != nil {
		defer func() {
			for _, err := range cl.stop() {
				if tr.Error != "" {
					tr.Error += "; "
				}
				tr.Error += err.Error()
			}
			// What one system left unsynced is not the next one's to write back.
			syscall.Sync()
			os.RemoveAll(data)
		}()
		for _, p := range cl.procs {
			tr.Logs = append(tr.Logs, p.logPath)
			tr.PIDs = append(tr.PIDs, p.cmd.Process.Pid)
		}
		tr.Profiles = cl.profiles
	}
	if err != nil {
		tr.Error = err.Error()
		for _, r := range runs {
			r.Error = "not run: the cluster did not start"
		}
		return
	}
	tr.StartS = time.Since(t0).Seconds()
	progress("%s: ready in %s", tr.Name, time.Since(t0).Round(100*time.Millisecond))
	sys := benchSystemNamed(tr.System)
	populated := false
	for _, r := range runs {
		*done++
		if ctx.Err() != nil {
			r.Error = "not run: interrupted"
			continue
		}
		bc := benchConfig{system: sys, consistency: r.ReadConsistency, addrs: cl.addrs, clients: r.Clients,
			duration: c.duration, warmup: c.warmup, valueSize: c.valueSize, mix: r.Mix, keys: c.keys,
			timeout: c.timeout, bucket: peersBucket, replicas: 3, populated: true}
		if bc.consistency == "" {
			bc.consistency = tr.Reads[0]
		}
		if r.Mix != mixWrite && !populated {
			// Once per cluster, and at a concurrency that makes it quick.
			progress("%s: writing %d keys through %d clients before reading them", tr.Name, c.keys, peersPopulateClients)
			t0 := time.Now()
			if err := populateKeys(ctx, bc, peersPopulateClients); err != nil {
				r.Error = fmt.Sprintf("writing the keys before the reads: %v", err)
				continue
			}
			populated, tr.PopulateS = true, time.Since(t0).Seconds()
		}
		reads := ""
		if r.ReadConsistency != "" {
			reads = ", " + tr.ReadNames[r.ReadConsistency] + " reads"
		}
		progress("[%d/%d] %s, %s mix, %d clients%s", *done, total, tr.Name, r.Mix, r.Clients, reads)
		br, err := bench(ctx, bc, func(format string, args ...any) { progress("  "+format, args...) })
		if err != nil {
			r.Error = err.Error()
			continue
		}
		if r.Mix == mixWrite {
			br.ReadConsistency, br.Read = "", ""
		}
		r.Report = br
		if br.OK == 0 {
			r.Error = fmt.Sprintf("no operation succeeded (%d attempted)", br.Attempted)
		}
		progress("  %.0f ops/s, p50 %.2f ms, p99 %.2f ms, %d errors", br.OpsPerSec, br.Latency.P50, br.Latency.P99, br.Errors)
	}
	tr.Leader = cl.leader(ctx)
}

// peersCluster is a target's three running nodes.
type peersCluster struct {
	system   string
	procs    []*peerProc
	addrs    []string // for the clients, in the form bench's system takes
	http     []string // shoal's HTTP addresses, etcd's client URLs, NATS's monitoring ports
	profiles []string
}

// stop stops every node at once, each by its PID, and returns what went
// wrong.
func (cl *peersCluster) stop() []error {
	errs := make([]error, len(cl.procs))
	var wg sync.WaitGroup
	for i, p := range cl.procs {
		wg.Go(func() { errs[i] = p.stop(peersStopGrace) })
	}
	wg.Wait()
	var out []error
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// startPeersCluster starts the target's three nodes on fresh loopback
// ports, their data under data, their logs under out/logs, and waits
// until they serve: /readyz and a write through every node (shoal),
// /health (etcd), /healthz and the KV bucket's creation (NATS). On error
// the nodes started are in the returned cluster for the caller to stop.
func startPeersCluster(ctx context.Context, t *peersTargetRun, bin, data, out string, cpuprofile bool) (*peersCluster, error) {
	ctx, cancel := context.WithTimeout(ctx, peersReadyTimeout)
	defer cancel()
	cl := &peersCluster{system: t.System}
	perNode := map[string]int{"shoal": 2, "etcd": 2, "nats": 3}[t.System]
	ports, err := liverun.HoldPorts(3 * perNode)
	if err != nil {
		return nil, err
	}
	addr := func(node, i int) string { return ports[node*perNode+i].Addr().String() }
	release := func() {
		for _, l := range ports {
			l.Close()
		}
	}
	type node struct {
		name string
		args []string
	}
	var nodes []node
	switch t.System {
	case "shoal":
		var join []string
		for i := range 3 {
			join = append(join, addr(i, 0))
		}
		for i := range 3 {
			name := fmt.Sprintf("n%d", i+1)
			args := []string{"serve", "--name", name, "--peer-addr", addr(i, 0), "--http-addr", addr(i, 1),
				"--data-dir", filepath.Join(data, name), "--join", strings.Join(join, ","), "--bootstrap-expect", "3", "--log-level", "warn"}
			if cpuprofile {
				p := filepath.Join(out, "profiles", t.Name+"-"+name+".cpu")
				args = append(args, "--cpuprofile", p)
				cl.profiles = append(cl.profiles, p)
			}
			nodes = append(nodes, node{name, args})
			cl.addrs = append(cl.addrs, "http://"+addr(i, 1))
			cl.http = append(cl.http, "http://"+addr(i, 1))
		}
	case "etcd":
		var initial []string
		for i := range 3 {
			initial = append(initial, fmt.Sprintf("e%d=http://%s", i+1, addr(i, 0)))
		}
		for i := range 3 {
			name := fmt.Sprintf("e%d", i+1)
			client := "http://" + addr(i, 1)
			nodes = append(nodes, node{name, []string{"--name", name, "--data-dir", filepath.Join(data, name),
				"--listen-peer-urls", "http://" + addr(i, 0), "--initial-advertise-peer-urls", "http://" + addr(i, 0),
				"--listen-client-urls", client, "--advertise-client-urls", client,
				"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
				"--initial-cluster-token", "shoal-bench-peers", "--log-level", "warn"}})
			cl.addrs = append(cl.addrs, client)
			cl.http = append(cl.http, client)
		}
	case "nats":
		if err := os.MkdirAll(data, 0o755); err != nil {
			release()
			return nil, err
		}
		var routes []string
		for i := range 3 {
			routes = append(routes, strconv.Quote("nats-route://"+addr(i, 1)))
		}
		for i := range 3 {
			name := fmt.Sprintf("s%d", i+1)
			conf := filepath.Join(data, name+".conf")
			if err := os.WriteFile(conf, []byte(natsServerConfig(name, addr(i, 0), addr(i, 1), addr(i, 2), filepath.Join(data, name), routes, t.Name == "nats-always")), 0o644); err != nil {
				release()
				return nil, err
			}
			nodes = append(nodes, node{name, []string{"-c", conf}})
			cl.addrs = append(cl.addrs, "nats://"+addr(i, 0))
			cl.http = append(cl.http, "http://"+addr(i, 2))
		}
	default:
		release()
		return nil, fmt.Errorf("no cluster for system %q", t.System)
	}
	release()
	for _, n := range nodes {
		p, err := startPeerProc(t.Name+"-"+n.name, filepath.Join(out, "logs", t.Name+"-"+n.name+".log"), "", nil, bin, n.args...)
		if err != nil {
			return cl, err
		}
		cl.procs = append(cl.procs, p)
	}
	// Ready when every node says so; a node that exits fails the start.
	err = cl.waitAll(ctx, func(ctx context.Context, i int) error {
		switch t.System {
		case "shoal":
			return shoalReady(ctx, cl.addrs[i])
		case "etcd":
			return httpCheck(ctx, cl.http[i]+"/health", `"health":"true"`)
		default:
			return httpCheck(ctx, cl.http[i]+"/healthz", "")
		}
	})
	if err == nil && t.System == "nats" {
		err = cl.waitOne(ctx, func(ctx context.Context) error {
			c, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			return natsEnsureBucket(c, cl.addrs[0], peersBucket, 3, 5*time.Second)
		})
		// A bucket just created may not answer through every server yet
		// (a client's first stream info timed out once): wait until it
		// takes a write and a read through each.
		if err == nil {
			err = cl.waitAll(ctx, func(ctx context.Context, i int) error { return natsBucketReady(ctx, cl.addrs[i]) })
		}
	}
	if err != nil {
		return cl, fmt.Errorf("not ready within %s: %w", peersReadyTimeout, err)
	}
	return cl, nil
}

// natsServerConfig is one NATS server's configuration: its client,
// route and monitoring ports, JetStream with a store directory (and
// sync_interval: always when syncAlways), and the cluster's routes.
func natsServerConfig(name, client, route, monitor, store string, routes []string, syncAlways bool) string {
	sync := ""
	if syncAlways {
		sync = "\n  sync_interval: always"
	}
	return fmt.Sprintf(`server_name: %q
listen: %q
http: %q
jetstream {
  store_dir: %q%s
}
cluster {
  name: "shoal-bench-peers"
  listen: %q
  routes: [%s]
}
`, name, client, monitor, store, sync, route, strings.Join(routes, ", "))
}

// waitAll retries check on every node until each has passed once, or
// ctx ends, or a node exits.
func (cl *peersCluster) waitAll(ctx context.Context, check func(ctx context.Context, i int) error) error {
	errs := make([]error, len(cl.procs))
	var wg sync.WaitGroup
	for i := range cl.procs {
		wg.Go(func() {
			errs[i] = cl.waitOne(ctx, func(ctx context.Context) error { return check(ctx, i) })
			if errs[i] != nil {
				errs[i] = fmt.Errorf("%s: %w", cl.procs[i].name, errs[i])
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitOne retries check every 100ms until it passes, ctx ends or a node
// exits; the error is check's last, or the exit with the log's tail.
func (cl *peersCluster) waitOne(ctx context.Context, check func(ctx context.Context) error) error {
	for {
		for _, p := range cl.procs {
			if err := p.exitErr(); err != nil {
				return err
			}
		}
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// shoalReady passes when the node's /readyz says ready and a write
// through it is acknowledged: the cluster has formed and its data group
// has a leader.
func shoalReady(ctx context.Context, addr string) error {
	c, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := probeShoal(c, addr, benchConfig{timeout: 3 * time.Second}); err != nil {
		return err
	}
	conn := &shoalConn{base: addr, hc: newBenchHTTPClient(3*time.Second, benchAccess{})}
	defer conn.close()
	return conn.put(c, "bench-ready", []byte("ready"))
}

// natsBucketReady passes when the bucket takes a write and a read
// through the server at addr.
func natsBucketReady(ctx context.Context, addr string) error {
	c, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := dialNATS(c, addr, benchConfig{bucket: peersBucket, timeout: 3 * time.Second})
	if err != nil {
		return err
	}
	defer conn.close()
	if err := conn.put(c, "bench-ready", []byte("ready")); err != nil {
		return err
	}
	if found, err := conn.get(c, "bench-ready"); err != nil || !found {
		return fmt.Errorf("reading bench-ready back through %s: found %v, %v", addr, found, err)
	}
	return nil
}

// httpCheck passes when GET url answers 200 with a body containing want.
func httpCheck(ctx context.Context, url, want string) error {
	c, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(c, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, truncate(strings.TrimSpace(string(b)), 200))
	}
	return nil
}

// leader names the cluster's leader as its nodes see it after the runs,
// "" when unknown: shoal's data replicaset's, etcd's, the NATS KV
// stream's.
func (cl *peersCluster) leader(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	switch cl.system {
	case "shoal":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, cl.addrs[0]+"/v1/cluster", nil)
		if err != nil {
			return ""
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		var st struct {
			Replicasets []struct {
				Leader string `json:"leader"`
			} `json:"replicasets"`
		}
		if json.NewDecoder(resp.Body).Decode(&st) != nil || len(st.Replicasets) == 0 {
			return ""
		}
		return st.Replicasets[0].Leader
	case "etcd":
		for i, a := range cl.addrs {
			cli, err := newEtcdClient(a, 5*time.Second)
			if err != nil {
				continue
			}
			st, err := cli.Status(ctx, a)
			cli.Close()
			if err == nil && st.Leader == st.Header.MemberId {
				return fmt.Sprintf("e%d", i+1)
			}
		}
	case "nats":
		nc, js, err := natsJetStream(cl.addrs[0], 5*time.Second)
		if err != nil {
			return ""
		}
		defer nc.Close()
		s, err := js.Stream(ctx, "KV_"+peersBucket)
		if err != nil || s.CachedInfo().Cluster == nil {
			return ""
		}
		return s.CachedInfo().Cluster.Leader
	}
	return ""
}

// peerProc is a process the comparison started: a server or a build
// step. It runs in its own process group, so that a Ctrl-C meant for
// shoal reaches it only through shoal, which stops it by its PID; and the
// kernel kills it should shoal die without stopping it.
type peerProc struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when it has exited
	err     error         // Wait's, once done
}

// startPeerProc starts bin with args in dir ("" for this one) with env
// (nil for this process's), its output appended to logPath.
func startPeerProc(name, logPath, dir string, env []string, bin string, args ...string) (*peerProc, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = log, log
	// Pdeathsig follows the thread that started the process; Go does
	// not end its threads while shoal runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting %s (%s): %w", name, bin, err)
	}
	p := &peerProc{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	return p, nil
}

// exitErr is nil while the process runs, and says how it ended, with
// its log's last lines, once it has.
func (p *peerProc) exitErr() error {
	select {
	case <-p.done:
	default:
		return nil
	}
	how := "exited"
	if p.err != nil {
		how = p.err.Error()
	}
	return fmt.Errorf("%s (pid %d) %s; the end of %s:\n%s", p.name, p.cmd.Process.Pid, how, p.logPath, logTail(p.logPath, 15))
}

// stop sends SIGTERM to the process's group (it and whatever it
// started, such as a build's compilers), and SIGKILL after grace.
func (p *peerProc) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s (pid %d) ignored SIGTERM for %s and was killed", p.name, pid, grace)
	}
}

// runPeerProc runs a build step to its end, or stops it when ctx ends.
func runPeerProc(ctx context.Context, name, logPath, dir string, env []string, bin string, args ...string) error {
	fmt.Fprintf(appendFile(logPath), "$ %s %s\n", bin, strings.Join(args, " "))
	p, err := startPeerProc(name, logPath, dir, env, bin, args...)
	if err != nil {
		return err
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		p.stop(peersStopGrace)
		return fmt.Errorf("%s: %w", name, ctx.Err())
	}
	if p.err != nil {
		return fmt.Errorf("%s %s: %v; the end of %s:\n%s", bin, strings.Join(args, " "), p.err, logPath, logTail(logPath, 15))
	}
	return nil
}

// appendFile opens path for appending, or returns a writer that drops
// everything; the caller's log line is worth no failure.
func appendFile(path string) io.Writer {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return io.Discard
	}
	return closingWriter{f}
}

// closingWriter closes its file after the one write.
type closingWriter struct{ f *os.File }

func (w closingWriter) Write(b []byte) (int, error) {
	defer w.f.Close()
	return w.f.Write(b)
}

// logTail is the last n lines of the file at path.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// buildPeers finds or builds the binaries the targets need, side by
// side, and returns them by system (shoal: this binary).
func buildPeers(ctx context.Context, c peersConfig, out string, progress func(string, ...any)) (map[string]string, []*peersBuild) {
	bins := map[string]string{}
	self, err := os.Executable()
	var builds []*peersBuild
	if err != nil {
		builds = append(builds, &peersBuild{Name: "shoal", Error: err.Error()})
	} else {
		bins["shoal"] = self
	}
	need := map[string]bool{}
	for _, t := range c.targets {
		need[t.System] = true
	}
	var todo []*peersBuild
	if need["etcd"] {
		todo = append(todo, &peersBuild{Name: "etcd", system: "etcd", Version: peersEtcdVersion, Binary: filepath.Join(c.cache, "etcd-"+peersEtcdVersion)})
	}
	if need["nats"] {
		todo = append(todo, &peersBuild{Name: "nats-server", system: "nats", Version: peersNATSVersion, Binary: filepath.Join(c.cache, "nats-server-"+peersNATSVersion)})
	}
	if err := os.MkdirAll(c.cache, 0o755); err != nil {
		for _, b := range todo {
			b.Error = fmt.Sprintf("the cache: %v", err)
		}
		return bins, append(builds, todo...)
	}
	var wg sync.WaitGroup
	for _, b := range todo {
		if fi, err := os.Stat(b.Binary); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			b.Cached = true
			progress("%s %s: %s (cached)", b.Name, b.Version, b.Binary)
			continue
		}
		b.Log = filepath.Join(out, "logs", "build-"+b.Name+".log")
		progress("%s %s: building into %s", b.Name, b.Version, b.Binary)
		wg.Go(func() {
			t0 := time.Now()
			if err := buildPeer(ctx, c.goCmd, b); err != nil {
				b.Error = err.Error()
			}
			b.Seconds = time.Since(t0).Seconds()
			outcome := "built"
			if b.Error != "" {
				outcome = "failed"
			}
			progress("%s %s: %s in %s", b.Name, b.Version, outcome, time.Since(t0).Round(100*time.Millisecond))
		})
	}
	wg.Wait()
	for _, b := range todo {
		if b.Error == "" {
			bins[b.system] = b.Binary
		}
	}
	return bins, append(builds, todo...)
}

// buildPeer builds one peer into a temporary directory and renames it
// into place, so that an interrupted build leaves no binary behind.
// etcd's server module has replace directives, which go install
// refuses: it is built from a throwaway module that requires it.
func buildPeer(ctx context.Context, goCmd string, b *peersBuild) error {
	tmp, err := os.MkdirTemp(filepath.Dir(b.Binary), ".build-"+b.Name+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	built := filepath.Join(tmp, "bin")
	env := os.Environ()
	type step struct {
		env  []string
		args []string
	}
	var steps []step
	switch b.Name {
	case "etcd":
		const pkg = "go.etcd.io/etcd/server/v3"
		steps = []step{
			{env, []string{"mod", "init", "tmp"}},
			{env, []string{"get", pkg + "@" + b.Version}},
			{env, []string{"build", "-mod=mod", "-o", built, pkg}},
		}
	case "nats-server":
		steps = []step{{append(env, "GOBIN="+tmp), []string{"install", "github.com/nats-io/nats-server/v2@" + b.Version}}}
		built = filepath.Join(tmp, "nats-server")
	default:
		return fmt.Errorf("no recipe to build %s", b.Name)
	}
	for _, s := range steps {
		b.Steps = append(b.Steps, goCmd+" "+strings.Join(s.args, " "))
		if err := runPeerProc(ctx, "build "+b.Name, b.Log, tmp, s.env, goCmd, s.args...); err != nil {
			return err
		}
	}
	if err := os.Rename(built, b.Binary); err != nil {
		return fmt.Errorf("putting %s in the cache: %w", b.Name, err)
	}
	return nil
}
