package cli

// A sweep runs its seeds in worker processes, because only one simulated
// World may exist per process. The protocol between the sweep and a
// worker (`shoal sim sweep-worker`, not listed in the help):
//
//   - the sweep writes one seed a line, in decimal, to the worker's stdin,
//     and the next one only after the worker has answered, so a worker
//     holds at most one seed and a slow seed holds back no other;
//   - the worker answers each seed with one JSON line on stdout, a
//     seedResult, once the seed's run has finished and been checked;
//   - the worker exits 0 when its stdin ends.
//
// A worker that dies (or answers out of turn) has its seed reported as an
// internal error, and is replaced. The workers' stderr goes to
// workers.log in the sweep's directory.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/scenarios/rundir"
	"github.com/shoaldb/shoal/scenarios/runner"
	"github.com/shoaldb/shoal/scenarios/scenario"
)

// seedResult is a worker's answer for one seed: a line of the worker
// protocol, and an entry of summary.json.
type seedResult struct {
	Seed    uint64           `json:"seed"`
	Verdict checker.Verdict  `json:"verdict"`
	Results []checker.Result `json:"checkers,omitempty"`
	// WallMS is the wall time the seed took in its worker: simulating,
	// checking, writing (and removing) its run directory.
	WallMS      int64  `json:"wall_ms"`
	VirtualNS   int64  `json:"virtual_ns,omitempty"`
	TraceSHA256 string `json:"trace_sha256,omitempty"`
	// Dir is the seed's run directory, kept when the seed did not pass.
	Dir string `json:"dir,omitempty"`
	// Error is an internal error: the run did not finish, or its worker
	// died. The verdict is then unknown.
	Error string `json:"error,omitempty"`
}

// passed reports whether the seed's verdict is valid (or had nothing to
// check), as the exit code of `shoal sim run` would have it.
func (r seedResult) passed() bool { return r.Error == "" && r.Verdict.ExitCode() == exitValid }

// firstFailing is the first checker that found the run invalid, or else
// the first that could not judge it.
func (r seedResult) firstFailing() (checker.Result, bool) {
	for _, want := range []checker.Verdict{checker.Invalid, checker.Unknown} {
		for _, c := range r.Results {
			if c.Verdict == want {
				return c, true
			}
		}
	}
	return checker.Result{}, false
}

func failedSeed(seed uint64, err error) seedResult {
	return seedResult{Seed: seed, Verdict: checker.Unknown, Error: err.Error()}
}

// seedDir is a seed's run directory in a sweep's directory.
func seedDir(out string, seed uint64) string { return filepath.Join(out, fmt.Sprintf("seed-%d", seed)) }

// workerArgs is the command line of a sweep's worker.
func workerArgs(scenarioFile, out, source string, bugNames []string) []string {
	args := []string{"sim", "sweep-worker", "--scenario", scenarioFile, "--out", out, "--source", source}
	for _, b := range bugNames {
		args = append(args, "--bug", b)
	}
	return args
}

func runSweepWorker(args []string, stdout, stderr io.Writer) (int, error) {
	return sweepWorker(args, os.Stdin, stdout, stderr)
}

// sweepWorker is the worker's side of the protocol: it runs the seeds it
// reads from in, one at a time, and answers each on out.
func sweepWorker(args []string, in io.Reader, out, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("shoal sim sweep-worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("scenario", "", "the resolved scenario file to run")
	dir := fs.String("out", "", "the sweep's directory, where each seed's run directory is made")
	source := fs.String("source", "", "the scenario as the sweep was given it, for the command that reproduces a seed")
	var bugNames listFlag
	fs.Var(&bugNames, "bug", "switch a planted bug on (repeatable)")
	pos, done, code, err := parseInterleaved(fs, args)
	if done {
		return code, err
	}
	if len(pos) != 0 || *file == "" || *dir == "" {
		return exitUsage, usagef("is run by shoal sim sweep: want --scenario FILE --out DIR")
	}
	data, err := os.ReadFile(*file)
	if err != nil {
		return exitUsage, usageError{err.Error()}
	}
	s, err := scenario.Parse(*file, data)
	if err != nil {
		return exitUsage, usageError{err.Error()}
	}
	if *source == "" {
		*source = *file
	}
	// The protocol owns stdout: anything else the process prints there
	// goes to stderr.
	if f, ok := out.(*os.File); ok && f == os.Stdout {
		os.Stdout = os.Stderr
		defer func() { os.Stdout = f }()
	}
	lines := bufio.NewScanner(in)
	for lines.Scan() {
		seed, err := strconv.ParseUint(strings.TrimSpace(lines.Text()), 10, 64)
		if err != nil {
			return exitUsage, usagef("stdin: want one seed a line, got %q", lines.Text())
		}
		b, err := json.Marshal(runSeed(s, seed, *dir, *source, bugNames))
		if err != nil {
			return exitInternal, err
		}
		if _, err := out.Write(append(b, '\n')); err != nil {
			return exitInternal, err
		}
	}
	if err := lines.Err(); err != nil {
		return exitInternal, err
	}
	return exitValid, nil
}

// runSeed runs one seed, and a seed that did not pass once more into its
// run directory under out.
func runSeed(s *scenario.Scenario, seed uint64, out, source string, bugNames []string) (r seedResult) {
	start := time.Now()
	r = seedResult{Seed: seed, Verdict: checker.Unknown}
	dir := seedDir(out, seed)
	defer func() {
		if v := recover(); v != nil {
			fmt.Fprintf(os.Stderr, "seed %d: panic: %v\n%s", seed, v, debug.Stack())
			r.Verdict, r.Error = checker.Unknown, fmt.Sprintf("panic: %v", v)
		}
		if r.Error != "" && !removeIfEmpty(dir) {
			r.Dir = dir
		}
		r.WallMS = time.Since(start).Milliseconds()
	}()
	command := fmt.Sprintf("shoal sim run %s --seed %d", source, seed)
	for _, b := range bugNames {
		command += " --bug " + b
	}
	opts := runner.Options{Seed: seed, Bugs: bugNames, Command: command, Version: version, Commit: commit()}
	// Most seeds pass, and a passing seed keeps no run directory: run
	// without one, and run a seed that did not pass again into its
	// directory. The run is a function of its seed, so the second run
	// must give the same trace; if not, that is the harness's failure.
	o, err := runner.Run(s, opts)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Verdict, r.Results = o.Results.Verdict, o.Results.Checkers
	r.VirtualNS, r.TraceSHA256 = o.Meta.VirtualNanos, o.Meta.TraceSHA256
	if r.passed() {
		return r
	}
	if err := rundir.Create(dir); err != nil {
		r.Error = err.Error()
		return r
	}
	opts.Dir = dir
	again, err := runner.Run(s, opts)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	if again.Meta.TraceSHA256 != r.TraceSHA256 {
		r.Verdict, r.Error = checker.Unknown, fmt.Sprintf("seed %d did not replay: trace sha256 %s, then %s", seed, r.TraceSHA256, again.Meta.TraceSHA256)
	}
	r.Dir = dir
	return r
}

// removeIfEmpty removes dir if it holds nothing, and reports whether it is
// gone.
func removeIfEmpty(dir string) bool {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	if err != nil || len(entries) > 0 {
		return false
	}
	return os.Remove(dir) == nil
}

// seedWorker runs seeds one at a time.
type seedWorker interface {
	// Run hands the worker a seed and waits for its result. An error means
	// the worker is gone and the seed did not finish.
	Run(seed uint64) (seedResult, error)
	// Close ends the worker.
	Close() error
}

// maxWorkerFailures is how many times in a row a worker slot may fail
// (to start, or by dying with a seed in hand) before the sweep stops
// refilling it.
const maxWorkerFailures = 5

// dispatch runs seeds on jobs workers made by start, handing each seed to
// whichever worker is free, and calls done with each result as it comes,
// from the calling goroutine. A worker that fails is replaced and its
// seed reported as an internal error; once every slot has failed
// maxWorkerFailures times in a row, the seeds left are reported as not
// run.
func dispatch(seeds []uint64, jobs int, start func() (seedWorker, error), done func(seedResult)) {
	queue := make(chan uint64, len(seeds))
	for _, s := range seeds {
		queue <- s
	}
	close(queue)
	results := make(chan seedResult)
	var wg sync.WaitGroup
	for range min(jobs, len(seeds)) {
		wg.Go(func() {
			var w seedWorker
			defer func() {
				if w != nil {
					w.Close()
				}
			}()
			failures := 0
			for seed := range queue {
				if w == nil {
					sw, err := start()
					if err != nil {
						results <- failedSeed(seed, fmt.Errorf("cannot start a worker: %v", err))
						if failures++; failures >= maxWorkerFailures {
							return
						}
						continue
					}
					w = sw
				}
				r, err := w.Run(seed)
				if err != nil {
					results <- failedSeed(seed, err)
					w.Close()
					w = nil
					if failures++; failures >= maxWorkerFailures {
						return
					}
					continue
				}
				failures = 0
				results <- r
			}
		})
	}
	go func() {
		wg.Wait()
		close(results)
	}()
	for r := range results {
		done(r)
	}
	for seed := range queue {
		done(failedSeed(seed, fmt.Errorf("not run: every worker failed %d times in a row", maxWorkerFailures)))
	}
}

// processWorker is a worker process: this binary in sweep-worker mode.
type processWorker struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	tail   *tailWriter
	once   sync.Once
	exited chan struct{} // closed once cmd.Wait has returned
	err    error         // cmd.Wait's
}

// startProcessWorker starts this binary (os.Executable) with args; its
// stderr goes to log.
func startProcessWorker(args []string, log io.Writer) (*processWorker, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	p := &processWorker{cmd: cmd, tail: &tailWriter{max: 2048}, exited: make(chan struct{})}
	cmd.Stderr = io.MultiWriter(log, p.tail)
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.stdout = bufio.NewReader(stdout)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *processWorker) Run(seed uint64) (seedResult, error) {
	if _, err := fmt.Fprintf(p.stdin, "%d\n", seed); err != nil {
		return seedResult{}, p.died(err)
	}
	line, err := p.stdout.ReadBytes('\n')
	if err != nil {
		return seedResult{}, p.died(err)
	}
	var r seedResult
	if err := json.Unmarshal(line, &r); err != nil {
		return seedResult{}, p.died(fmt.Errorf("answered %q: %v", truncate(string(bytes.TrimSpace(line)), 200), err))
	}
	if r.Seed != seed {
		return seedResult{}, p.died(fmt.Errorf("answered for seed %d when asked for %d", r.Seed, seed))
	}
	return r, nil
}

// died stops a worker that broke off the protocol, and says what became
// of it.
func (p *processWorker) died(cause error) error {
	p.stop(time.Second)
	what := cause.Error()
	if errors.Is(cause, io.EOF) || errors.Is(cause, io.ErrUnexpectedEOF) || errors.Is(cause, syscall.EPIPE) {
		what = "died"
	}
	msg := fmt.Sprintf("worker process %d %s", p.cmd.Process.Pid, what)
	if p.err != nil {
		msg += " (" + p.err.Error() + ")"
	}
	if t := strings.TrimSpace(p.tail.String()); t != "" {
		msg += "; its last words: " + lastLines(t, 3)
	}
	return errors.New(msg)
}

// Close ends the worker: its stdin ends, and it is killed if it has not
// exited within a few seconds.
func (p *processWorker) Close() error {
	p.stop(5 * time.Second)
	if p.err != nil {
		return fmt.Errorf("worker process %d: %v", p.cmd.Process.Pid, p.err)
	}
	return nil
}

// stop closes the worker's stdin, waits up to grace for it to exit, and
// kills it if it has not. It may be called more than once.
func (p *processWorker) stop(grace time.Duration) {
	p.once.Do(func() {
		p.stdin.Close()
		go func() {
			// Drain stdout so that the worker never blocks writing to it,
			// and Wait's own closing of the pipe finds nothing unread.
			io.Copy(io.Discard, p.stdout)
			p.err = p.cmd.Wait()
			close(p.exited)
		}()
		select {
		case <-p.exited:
		case <-time.After(grace):
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// lastLines joins the last n lines of s with " | ".
func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// syncWriter serializes the writes of several workers' stderr to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
