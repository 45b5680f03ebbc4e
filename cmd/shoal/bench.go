package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/shoaldb/shoal/core/live"
)

// Bench mixes: the operations each client issues.
const (
	mixWrite = "write" // every operation a PUT
	mixRead  = "read"  // every operation a GET of a pre-populated key
	mixMixed = "mixed" // half and half, drawn per operation
)

// benchConfig is one run of shoal bench.
type benchConfig struct {
	addrs     []string // base URLs
	clients   int
	duration  time.Duration
	warmup    time.Duration
	valueSize int
	mix       string
	keys      int
	timeout   time.Duration // per request
}

// latencyMethod says how the percentiles are computed, in the report.
const latencyMethod = "exact: every successful operation's latency is kept and the merged list sorted (nearest rank)"

// benchReport is the outcome of a run, printed as a table or as JSON.
type benchReport struct {
	Addrs         []string `json:"addrs"`
	LeftOut       []string `json:"left_out,omitempty"` // addresses not reachable, or not ready within --timeout
	Mix           string   `json:"mix"`
	Clients       int      `json:"clients"`
	DurationS     float64  `json:"duration_s"`
	WarmupS       float64  `json:"warmup_s"`
	ValueSize     int      `json:"value_size"`
	Keys          int      `json:"keys"`
	LatencyMethod string   `json:"latency_method"`
	// Attempted counts the operations started in the measured window;
	// it is OK plus Errors.
	Attempted int64 `json:"attempted"`
	OK        int64 `json:"ok"`
	// NotFound counts the reads, among OK, that found no value: with
	// pre-populated keys, none should.
	NotFound  int64        `json:"not_found"`
	Errors    int64        `json:"errors"`
	OpsPerSec float64      `json:"ops_per_sec"` // OK per second of the window
	Latency   latencyStats `json:"latency"`
	// ByOp splits the figures by operation: read and write.
	ByOp         map[string]*benchOpReport `json:"by_op"`
	ErrorsByKind []benchErrorKind          `json:"errors_by_kind"`
}

type benchOpReport struct {
	Attempted int64        `json:"attempted"`
	OK        int64        `json:"ok"`
	Errors    int64        `json:"errors"`
	OpsPerSec float64      `json:"ops_per_sec"`
	Latency   latencyStats `json:"latency"`
}

// benchErrorKind counts one kind of failure: "HTTP 503", "transport:
// timeout", ...; Example is the first such error's message.
type benchErrorKind struct {
	Kind    string `json:"kind"`
	Count   int64  `json:"count"`
	Example string `json:"example"`
}

// latencyStats are in milliseconds.
type latencyStats struct {
	P50  float64 `json:"p50_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p999_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

const benchUsage = `usage: shoal bench [--addr URL,...] [--clients N] [--duration D] [--warmup D]
                   [--value-size BYTES] [--mix write|read|mixed] [--keys N] [--json]

Loads a running cluster through its HTTP API and reports throughput and
latency. N clients, each with its own keep-alive connection, are spread
over the addresses round-robin and issue operations back to back: PUTs
(write), GETs (read), or half of each (mixed), on keys drawn uniformly
from --keys. For read and mixed, every key is written once first. A
warmup runs before the measured window and is not counted. Latency
percentiles are exact (every latency kept and sorted).

Exits 0 when it measured, 3 for bad usage, 4 when no node can be reached
(or none answered an operation).

flags:
`

func runBench(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("shoal bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := os.Getenv("SHOAL_ADDR")
	if addr == "" {
		addr = defaultAddr
	}
	var c benchConfig
	fs.StringVar(&addr, "addr", addr, "comma-separated HTTP addresses of the nodes to load (env SHOAL_ADDR)")
	fs.IntVar(&c.clients, "clients", 64, "concurrent clients, each with its own connection")
	fs.DurationVar(&c.duration, "duration", 30*time.Second, "the measured window")
	fs.DurationVar(&c.warmup, "warmup", 3*time.Second, "load before the measured window, not counted")
	fs.IntVar(&c.valueSize, "value-size", 100, "bytes per written value")
	fs.StringVar(&c.mix, "mix", mixMixed, "write, read or mixed (50/50)")
	fs.IntVar(&c.keys, "keys", 1000, "keys drawn uniformly")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "how long one request may take before it counts as a timeout")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	if _, done, code, err := parseArgs(fs, args, 0, "no argument"); done {
		return code, err
	}
	var problems []string
	switch c.mix {
	case mixWrite, mixRead, mixMixed:
	default:
		problems = append(problems, fmt.Sprintf("--mix %q: want write, read or mixed", c.mix))
	}
	if c.clients < 1 {
		problems = append(problems, fmt.Sprintf("--clients %d: want at least 1", c.clients))
	}
	if c.duration <= 0 {
		problems = append(problems, fmt.Sprintf("--duration %s: want a positive duration", c.duration))
	}
	if c.warmup < 0 {
		problems = append(problems, fmt.Sprintf("--warmup %s: want zero or more", c.warmup))
	}
	if c.valueSize < 0 || c.valueSize > live.DefaultMaxBody/2 {
		problems = append(problems, fmt.Sprintf("--value-size %d: want 0 to %d bytes", c.valueSize, live.DefaultMaxBody/2))
	}
	if c.keys < 1 {
		problems = append(problems, fmt.Sprintf("--keys %d: want at least 1", c.keys))
	}
	if len(problems) > 0 {
		return exitUsage, usageError{strings.Join(problems, "; ")}
	}
	// The kv commands' address rules, and their --timeout check.
	cl, err := (&clientFlags{addr: addr, timeout: c.timeout}).client()
	if err != nil {
		return exitUsage, err
	}
	c.addrs = cl.addrs

	ready, unreachable := probeNodes(c.addrs, c.timeout)
	var whys []string
	for _, u := range unreachable {
		whys = append(whys, u.String())
	}
	if len(ready) == 0 {
		return exitInternal, fmt.Errorf("no node can be reached or is ready: %s", strings.Join(whys, "; "))
	}
	for _, why := range whys {
		fmt.Fprintf(stderr, "shoal bench: leaving out %s\n", why)
	}
	c.addrs = ready
	progress := func(format string, args ...any) {
		fmt.Fprintf(stderr, "shoal bench: "+format+"\n", args...)
	}
	rep, err := bench(c, progress)
	if err != nil {
		return exitInternal, err
	}
	for _, u := range unreachable {
		rep.LeftOut = append(rep.LeftOut, u.addr)
	}
	if *asJSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		rep.print(stdout)
	}
	if rep.OK == 0 {
		return exitInternal, fmt.Errorf("no operation succeeded in the measured window (%d attempted)", rep.Attempted)
	}
	return exitValid, nil
}

// probeFailure is an address left out of a run, and why.
type probeFailure struct {
	addr string
	err  error
}

func (p probeFailure) String() string { return fmt.Sprintf("%s: %v", p.addr, p.err) }

// probeNodes asks each address's /readyz, waiting up to timeout for a
// node that answers but is not ready yet (a cluster still forming). It
// returns the ready addresses, and the others with the reason.
func probeNodes(addrs []string, timeout time.Duration) (ready []string, left []probeFailure) {
	answers := make(chan probeFailure, len(addrs))
	for _, a := range addrs {
		go func() {
			hc := newBenchHTTPClient(min(timeout, 3*time.Second))
			defer hc.CloseIdleConnections()
			deadline := time.Now().Add(timeout)
			for {
				err := func() error {
					resp, err := hc.Get(a + "/readyz")
					if err != nil {
						return err
					}
					defer resp.Body.Close()
					b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
					if resp.StatusCode != http.StatusOK {
						return fmt.Errorf("/readyz answered %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
					}
					return nil
				}()
				// Nothing listening: not worth waiting for.
				if err == nil || dialFailed(err) || time.Now().After(deadline) {
					answers <- probeFailure{a, err}
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}
	errs := map[string]error{}
	for range addrs {
		an := <-answers
		errs[an.addr] = an.err
	}
	for _, a := range addrs {
		if errs[a] == nil {
			ready = append(ready, a)
		} else {
			left = append(left, probeFailure{a, errs[a]})
		}
	}
	return ready, left
}

func newBenchHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: min(timeout, 3*time.Second), KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// benchKey is the name of key i.
func benchKey(i int) string { return fmt.Sprintf("bench-%06d", i) }

// benchClient is one client's connection and what it measured.
type benchClient struct {
	id   int
	addr string
	hc   *http.Client
	rng  *rand.Rand
	body []byte // {"value":"<value>"}, its value bytes varied per write
	// Measured: latencies of successful operations, by op, in ns.
	lat       [2][]int64
	attempted [2]int64
	ok        [2]int64
	notFound  int64
	errs      map[string]*benchErrorKind
}

const (
	opRead  = 0
	opWrite = 1
)

var opNames = [2]string{"read", "write"}

func newBenchClient(id int, addr string, c benchConfig, seed uint64) *benchClient {
	bc := &benchClient{id: id, addr: addr, hc: newBenchHTTPClient(c.timeout), rng: rand.New(rand.NewPCG(seed, uint64(id))), errs: map[string]*benchErrorKind{}}
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	bc.body = append(bc.body, `{"value":"`...)
	for range c.valueSize {
		bc.body = append(bc.body, letters[bc.rng.IntN(len(letters))])
	}
	bc.body = append(bc.body, `"}`...)
	return bc
}

// do runs one operation on key and returns the error kind and message
// when it failed ("" when it succeeded), and whether a read found nothing.
func (bc *benchClient) do(op int, key string) (kind, msg string, notFound bool) {
	var req *http.Request
	var err error
	url := bc.addr + live.KeyPath(key)
	if op == opWrite {
		// Vary the value so that no two writes are alike.
		if v := bc.body[len(`{"value":"`) : len(bc.body)-2]; len(v) > 0 {
			v[bc.rng.IntN(len(v))] = byte('a' + bc.rng.IntN(26))
		}
		req, err = http.NewRequest(http.MethodPut, url, bytes.NewReader(bc.body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
	} else {
		req, err = http.NewRequest(http.MethodGet, url, nil)
	}
	if err != nil {
		return "request", err.Error(), false
	}
	resp, err := bc.hc.Do(req)
	if err != nil {
		return transportErrorKind(err), err.Error(), false
	}
	// Reading to the end keeps the connection for the next request.
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return transportErrorKind(err), err.Error(), false
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return "", "", false
	case resp.StatusCode == http.StatusNotFound && op == opRead:
		return "", "", true
	}
	var e live.ErrorBody
	msg = strings.TrimSpace(string(b))
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	return "HTTP " + strconv.Itoa(resp.StatusCode), truncate(msg, 200), false
}

// transportErrorKind names a failure to get an answer, in a few words.
func transportErrorKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "transport: timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "transport: connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "transport: connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "transport: connection closed"
	}
	return "transport: other"
}

// bench loads the cluster: pre-population, warmup, then the measured
// window; each client issues operations back to back and keeps what it
// measured, merged at the end.
func bench(c benchConfig, progress func(string, ...any)) (*benchReport, error) {
	seed := uint64(time.Now().UnixNano())
	clients := make([]*benchClient, c.clients)
	for i := range clients {
		clients[i] = newBenchClient(i, c.addrs[i%len(c.addrs)], c, seed)
	}
	defer func() {
		for _, bc := range clients {
			bc.hc.CloseIdleConnections()
		}
	}()
	if c.mix != mixWrite {
		progress("writing %d keys before reading them", c.keys)
		if err := prepopulate(clients, c.keys); err != nil {
			return nil, err
		}
	}
	progress("%d clients, %s mix: warming up for %s, then measuring for %s", c.clients, c.mix, c.warmup, c.duration)
	start := time.Now().Add(c.warmup)
	end := start.Add(c.duration)
	var wg sync.WaitGroup
	for _, bc := range clients {
		wg.Go(func() { bc.run(c, start, end) })
	}
	wg.Wait()
	return report(c, clients), nil
}

// prepopulate writes every key once, the keys split among the clients; a
// write that fails is tried again a few times.
func prepopulate(clients []*benchClient, keys int) error {
	const attempts = 5
	errs := make(chan error, len(clients))
	var wg sync.WaitGroup
	for ci, bc := range clients {
		wg.Go(func() {
			for k := ci; k < keys; k += len(clients) {
				var kind, msg string
				for range attempts {
					if kind, msg, _ = bc.do(opWrite, benchKey(k)); kind == "" {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if kind != "" {
					errs <- fmt.Errorf("writing %s through %s before the run: %s: %s", benchKey(k), bc.addr, kind, msg)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// run issues operations until end; those started in [start, end) count.
func (bc *benchClient) run(c benchConfig, start, end time.Time) {
	for {
		t0 := time.Now()
		if !t0.Before(end) {
			return
		}
		op := opWrite
		switch c.mix {
		case mixRead:
			op = opRead
		case mixMixed:
			op = bc.rng.IntN(2)
		}
		kind, msg, notFound := bc.do(op, benchKey(bc.rng.IntN(c.keys)))
		took := time.Since(t0)
		if t0.Before(start) {
			continue
		}
		bc.attempted[op]++
		if kind != "" {
			e := bc.errs[kind]
			if e == nil {
				e = &benchErrorKind{Kind: kind, Example: msg}
				bc.errs[kind] = e
			}
			e.Count++
			continue
		}
		bc.ok[op]++
		if notFound {
			bc.notFound++
		}
		bc.lat[op] = append(bc.lat[op], int64(took))
	}
}

// report merges the clients' measurements.
func report(c benchConfig, clients []*benchClient) *benchReport {
	rep := &benchReport{
		Addrs: c.addrs, Mix: c.mix, Clients: c.clients, DurationS: c.duration.Seconds(), WarmupS: c.warmup.Seconds(),
		ValueSize: c.valueSize, Keys: c.keys, LatencyMethod: latencyMethod, ByOp: map[string]*benchOpReport{},
		ErrorsByKind: []benchErrorKind{},
	}
	var all []int64
	errs := map[string]*benchErrorKind{}
	for op, name := range opNames {
		if (c.mix == mixWrite && op == opRead) || (c.mix == mixRead && op == opWrite) {
			continue
		}
		r := &benchOpReport{}
		var lat []int64
		for _, bc := range clients {
			r.Attempted += bc.attempted[op]
			r.OK += bc.ok[op]
			lat = append(lat, bc.lat[op]...)
		}
		r.Errors = r.Attempted - r.OK
		r.OpsPerSec = float64(r.OK) / c.duration.Seconds()
		slices.Sort(lat)
		r.Latency = latencies(lat)
		rep.ByOp[name] = r
		rep.Attempted += r.Attempted
		rep.OK += r.OK
		rep.Errors += r.Errors
		all = append(all, lat...)
	}
	for _, bc := range clients {
		rep.NotFound += bc.notFound
		for kind, e := range bc.errs {
			if errs[kind] == nil {
				errs[kind] = &benchErrorKind{Kind: kind, Example: e.Example}
			}
			errs[kind].Count += e.Count
		}
	}
	for _, e := range errs {
		rep.ErrorsByKind = append(rep.ErrorsByKind, *e)
	}
	slices.SortFunc(rep.ErrorsByKind, func(a, b benchErrorKind) int {
		if a.Count != b.Count {
			return int(b.Count - a.Count)
		}
		return strings.Compare(a.Kind, b.Kind)
	})
	rep.OpsPerSec = float64(rep.OK) / c.duration.Seconds()
	slices.Sort(all)
	rep.Latency = latencies(all)
	return rep
}

// latencies summarizes sorted latencies in ns, by nearest rank.
func latencies(sorted []int64) latencyStats {
	if len(sorted) == 0 {
		return latencyStats{}
	}
	var sum float64
	for _, l := range sorted {
		sum += float64(l)
	}
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	return latencyStats{
		P50: ms(percentile(sorted, 50)), P99: ms(percentile(sorted, 99)), P999: ms(percentile(sorted, 99.9)),
		Max: ms(sorted[len(sorted)-1]), Mean: sum / float64(len(sorted)) / 1e6,
	}
}

// percentile is the nearest-rank p-th percentile of sorted: the smallest
// value that at least p% of the values are at or below.
func percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	// p*n/100 in integers of thousandths, so that 99.9% of 1000 is 999
	// and not 999.0000000000001 rounded up.
	n := int64(len(sorted))
	rank := (int64(p*10+0.5)*n + 999) / 1000
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// print writes the report as a table.
func (r *benchReport) print(w io.Writer) {
	addrs := fmt.Sprintf("%d addresses", len(r.Addrs))
	if len(r.Addrs) == 1 {
		addrs = r.Addrs[0]
	}
	fmt.Fprintf(w, "shoal bench: %s mix, %d clients over %s, %s measured after a %s warmup, %d-byte values, %d keys\n\n",
		r.Mix, r.Clients, addrs, time.Duration(r.DurationS*float64(time.Second)), time.Duration(r.WarmupS*float64(time.Second)), r.ValueSize, r.Keys)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	// AlignRight pads every cell on the left: the names, padded to one
	// width, stay aligned on the left.
	fmt.Fprintln(tw, "op   \tok\terrors\tops/s\tp50 ms\tp99 ms\tp99.9 ms\tmax ms\t")
	row := func(name string, ok, errs int64, rate float64, l latencyStats) {
		fmt.Fprintf(tw, "%-5s\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", name, ok, errs, rate, l.P50, l.P99, l.P999, l.Max)
	}
	for _, name := range opNames {
		if o := r.ByOp[name]; o != nil && len(r.ByOp) > 1 {
			row(name, o.OK, o.Errors, o.OpsPerSec, o.Latency)
		}
	}
	row("all", r.OK, r.Errors, r.OpsPerSec, r.Latency)
	tw.Flush()
	if r.NotFound > 0 {
		fmt.Fprintf(w, "\n%d reads found no value\n", r.NotFound)
	}
	if len(r.ErrorsByKind) > 0 {
		fmt.Fprintln(w, "\nerrors:")
		for _, e := range r.ErrorsByKind {
			fmt.Fprintf(w, "  %-32s %8d  e.g. %s\n", e.Kind, e.Count, e.Example)
		}
	}
	if len(r.LeftOut) > 0 {
		fmt.Fprintf(w, "\nleft out (not reachable or not ready): %s\n", strings.Join(r.LeftOut, ", "))
	}
	fmt.Fprintf(w, "\nlatency: %s\n", latencyMethod)
}
