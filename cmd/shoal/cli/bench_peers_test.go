package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/live"
)

var (
	benchPeersE2E = flag.Bool("bench-peers", false, "build etcd and NATS (minutes, once per -bench-peers-cache) and run shoal bench peers briefly against real clusters")
	benchPeersDir = flag.String("bench-peers-cache", "", "with -bench-peers: the peers' cache (default shoal bench peers's)")
)

func TestParseClientsList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
	}{
		{"8,64", []int{8, 64}},
		{" 64 , 8 ", []int{64, 8}},
		{"1", []int{1}},
		{strconv.Itoa(maxBenchClients), []int{maxBenchClients}},
	} {
		got, err := parseClientsList(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%q: %v %v, want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "0", "-8", "8,8", "8,,64", "x", "8;64", "1e3", strconv.Itoa(maxBenchClients + 1), "99999999999999999999"} {
		if got, err := parseClientsList(in); err == nil {
			t.Errorf("%q: %v, want an error", in, got)
		} else if !strings.Contains(err.Error(), "--clients") {
			t.Errorf("%q: the error %q does not name the flag", in, err)
		}
	}
}

// FuzzParseClientsList: any input is refused or gives a list of
// concurrencies in range, none twice, that prints back to itself.
func FuzzParseClientsList(f *testing.F) {
	for _, s := range []string{"8,64", " 8 , 64", "0", "8,8", ",", "+8", "0x10", "٣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseClientsList(s)
		if err != nil {
			if _, ok := err.(usageError); !ok {
				t.Fatalf("%q: %T %v, want a usage error", s, err, err)
			}
			return
		}
		if len(got) == 0 {
			t.Fatalf("%q: an empty list without an error", s)
		}
		var parts []string
		for i, n := range got {
			if n < 1 || n > maxBenchClients || slices.Contains(got[:i], n) {
				t.Fatalf("%q: %v", s, got)
			}
			parts = append(parts, strconv.Itoa(n))
		}
		again, err := parseClientsList(strings.Join(parts, ","))
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("%q: %v prints as %q, which parses to %v %v", s, got, strings.Join(parts, ","), again, err)
		}
	})
}

// FuzzParseBenchAddrs: any --addr list is refused or gives addresses
// that the system's own rules take back unchanged.
func FuzzParseBenchAddrs(f *testing.F) {
	for _, s := range []string{"127.0.0.1:2379", "http://[::1]:7070/", "nats://h:4222,h2:4223", " , ", "http://x", "nats://u:p@h:1", "h:0", "h:65536"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, sys := range benchSystems() {
			addrs, err := parseBenchAddrs(sys, s)
			if err != nil {
				if _, ok := err.(usageError); !ok {
					t.Fatalf("%s %q: %T %v, want a usage error", sys.name, s, err, err)
				}
				continue
			}
			if len(addrs) == 0 {
				t.Fatalf("%s %q: no address and no error", sys.name, s)
			}
			for _, a := range addrs {
				again, err := sys.normAddr(a)
				if err != nil || again != a {
					t.Fatalf("%s %q: %q normalizes to %q %v", sys.name, s, a, again, err)
				}
			}
		}
	})
}

func TestBenchSystemUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--system", "redis"}, `--system "redis": want shoal, etcd, nats`},
		{[]string{"--system", "nats", "--read-consistency", "linearizable"}, "direct gets"},
		{[]string{"--system", "etcd", "--read-consistency", "sequential"}, "etcd offers linearizable or stale"},
		{[]string{"--system", "etcd", "--nats-bucket", "b"}, "--nats-bucket: only for --system nats"},
		{[]string{"--system", "nats", "--nats-bucket", "a.b"}, `--nats-bucket "a.b"`},
		{[]string{"--system", "nats", "--nats-replicas", "0"}, "--nats-replicas 0"},
		{[]string{"--system", "etcd", "--addr", "https://127.0.0.1:2379"}, "is not an address such as http://127.0.0.1:2379"},
		{[]string{"--system", "nats", "--addr", "nats://127.0.0.1"}, "is not an address such as nats://127.0.0.1:4222"},
		{[]string{"--system", "etcd", "--timeout", "0s"}, "--timeout 0s"},
	} {
		code, _, errs := shoal(t, append([]string{"bench"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("shoal bench %s: exit %d, stderr %q; want exit %d and %q", strings.Join(tc.args, " "), code, errs, exitUsage, tc.want)
		}
	}
}

// TestBenchPeersUsage: bad lists are refused before anything is built or
// started.
func TestBenchPeersUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--targets", "shoal,redis"}, `"redis" is not one of shoal, etcd, nats-always, nats-default`},
		{[]string{"--targets", "etcd,etcd"}, "etcd given twice"},
		{[]string{"--mixes", "write,scan"}, `"scan" is not one of write, read, mixed`},
		{[]string{"--clients", "8,0"}, "--clients"},
		{[]string{"--duration", "0s"}, "--duration 0s"},
		{[]string{"--keys", "0"}, "--keys 0"},
		{[]string{"extra"}, "want no argument"},
	} {
		code, out, errs := shoal(t, append([]string{"bench", "peers", "--cache", t.TempDir(), "--out", t.TempDir()}, tc.args...)...)
		if code != exitUsage || !strings.Contains(errs, tc.want) || out != "" {
			t.Errorf("shoal bench peers %s: exit %d, stdout %q, stderr %q; want exit %d and %q", strings.Join(tc.args, " "), code, out, errs, exitUsage, tc.want)
		}
	}
}

// TestBenchPeersAdaptersWithoutServers: etcd's and NATS's clients, with
// nothing listening, leave the address out and say so.
func TestBenchPeersAdaptersWithoutServers(t *testing.T) {
	dead := freeAddrs(t, 1)[0]
	for _, sys := range []string{"etcd", "nats"} {
		code, out, errs := shoal(t, "bench", "--system", sys, "--addr", dead, "--duration", "1s", "--timeout", "2s")
		if code != exitInternal || !strings.Contains(errs, "no node can be reached") || !strings.Contains(errs, dead) || out != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit %d, and %s that cannot be reached", sys, code, out, errs, exitInternal, dead)
		}
	}
}

// TestShoalConnStaleReads: a stale read counts only when the answer says
// it was one; a node that ignores ?consistency=stale answers another kind
// of read, which would be measured under the wrong name.
func TestShoalConnStaleReads(t *testing.T) {
	var header string
	var query []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query = append(query, r.URL.RawQuery)
		if header != "" {
			w.Header().Set(live.ConsistencyHeader, header)
		}
		if strings.HasSuffix(r.URL.Path, "/absent") {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":"key not found"}`)
			return
		}
		io.WriteString(w, `{"key":"k","value":"v","index":1}`)
	}))
	defer srv.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		stale     bool
		header    string
		key       string
		wantFound bool
		wantKind  string
	}{
		{false, "", "k", true, ""},
		{false, "linearizable", "absent", false, ""},
		{true, "stale", "k", true, ""},
		{true, "stale", "absent", false, ""},
		{true, "", "k", false, "not a stale read"},
		{true, "linearizable", "k", false, "not a stale read"},
	} {
		header, query = tc.header, nil
		conn := &shoalConn{base: srv.URL, hc: newBenchHTTPClient(5*time.Second, benchAccess{}), stale: tc.stale}
		found, err := conn.get(ctx, tc.key)
		conn.close()
		kind := ""
		if err != nil {
			kind, _ = errorKind(err)
		}
		if found != tc.wantFound || kind != tc.wantKind {
			t.Errorf("stale %v, header %q, key %s: found %v, error %v; want found %v, kind %q", tc.stale, tc.header, tc.key, found, err, tc.wantFound, tc.wantKind)
		}
		if want := map[bool]string{true: "consistency=stale", false: ""}[tc.stale]; len(query) != 1 || query[0] != want {
			t.Errorf("stale %v: the node saw queries %q, want one %q", tc.stale, query, want)
		}
	}
}

func TestErrorKinds(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&opError{kind: "HTTP 503", msg: "no leader"}, "HTTP 503"},
		{fmt.Errorf("wrapped: %w", &opError{kind: "etcd: Unavailable"}), "etcd: Unavailable"},
		{etcdError(context.DeadlineExceeded), "transport: timeout"},
		{natsError(context.DeadlineExceeded), "transport: timeout"},
		{natsError(errors.New("boom")), "nats: other"},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), "transport: connection refused"},
	} {
		if got, _ := errorKind(tc.err); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestPeersPlan(t *testing.T) {
	runs := peersPlan(allPeersConfig())
	// write: 4 targets; read and mixed: shoal and etcd both ways, NATS
	// its direct gets: 6. Each at two concurrencies.
	if len(runs) != (4+6+6)*2 {
		t.Errorf("%d runs, want 32", len(runs))
	}
	seen := map[string]bool{}
	for _, r := range runs {
		k := fmt.Sprint(r.Target, r.Mix, r.Clients, r.ReadConsistency)
		if seen[k] {
			t.Errorf("run %s twice", k)
		}
		seen[k] = true
		switch {
		case r.Mix == mixWrite && r.ReadConsistency != "":
			t.Errorf("%+v: a write run with a read consistency", r)
		case r.Mix != mixWrite && strings.HasPrefix(r.Target, "nats") && r.ReadConsistency != consistencyStale:
			t.Errorf("%+v: NATS KV has only direct gets, compared as stale", r)
		}
	}
	// Each target's write runs come before its reads, so that no run
	// waits for keys to be written.
	for i, r := range runs {
		if r.Mix == mixWrite && i > 0 && runs[i-1].Target == r.Target && runs[i-1].Mix != mixWrite {
			t.Errorf("run %d (%+v) writes after reads", i, r)
		}
	}
}

func TestNATSServerConfig(t *testing.T) {
	routes := []string{`"nats-route://127.0.0.1:6222"`, `"nats-route://127.0.0.1:6223"`}
	always := natsServerConfig("s1", "127.0.0.1:4222", "127.0.0.1:6222", "127.0.0.1:8222", "/data/s1", routes, true)
	def := natsServerConfig("s1", "127.0.0.1:4222", "127.0.0.1:6222", "127.0.0.1:8222", "/data/s1", routes, false)
	for _, want := range []string{`server_name: "s1"`, `listen: "127.0.0.1:4222"`, `http: "127.0.0.1:8222"`, `store_dir: "/data/s1"`,
		`listen: "127.0.0.1:6222"`, `routes: ["nats-route://127.0.0.1:6222", "nats-route://127.0.0.1:6223"]`} {
		if !strings.Contains(always, want) || !strings.Contains(def, want) {
			t.Errorf("the configurations lack %s:\n%s\n%s", want, always, def)
		}
	}
	if !regexp.MustCompile(`jetstream \{[^}]*sync_interval: always[^}]*\}`).MatchString(always) {
		t.Errorf("nats-always has no sync_interval: always in its jetstream block:\n%s", always)
	}
	if strings.Contains(def, "sync_interval") {
		t.Errorf("nats-default sets sync_interval:\n%s", def)
	}
}

// allPeersConfig is shoal bench peers's default comparison.
func allPeersConfig() peersConfig {
	c := peersConfig{cache: "/cache", duration: 6 * time.Second, warmup: 2 * time.Second, keys: 10000, valueSize: 100, timeout: 10 * time.Second}
	if err := c.resolve(strings.Join(peersTargetNames(), ","), strings.Join(benchMixes, ","), "8,64"); err != nil {
		panic(err)
	}
	return c
}

// syntheticPeersReport is a comparison with made-up numbers: every
// target at two concurrencies, a failed run, and errors.
func syntheticPeersReport(out string) *peersReport {
	r := &peersReport{
		Command: "shoal bench peers --clients 8,64", Started: "2026-01-02T03:04:05Z", WallS: 321,
		Host: peersHost{OS: "linux", Arch: "amd64", CPUs: 2, GoVersion: "go1.26.8", Placement: "one machine"},
		Settings: peersSettings{DurationS: 6, WarmupS: 2, Clients: []int{8, 64}, Mixes: benchMixes, Keys: 10000, ValueSize: 100,
			TimeoutS: 10, Connections: "one per client"},
		Builds: []*peersBuild{
			{Name: "etcd", Version: peersEtcdVersion, Binary: "/cache/etcd-" + peersEtcdVersion, Seconds: 131.2},
			{Name: "nats-server", Version: peersNATSVersion, Binary: "/cache/nats-server-" + peersNATSVersion, Cached: true},
		},
		BuildsWallS: 131.3, Out: out,
	}
	c := allPeersConfig()
	for i, t := range c.targets {
		r.Targets = append(r.Targets, &peersTargetRun{peersTarget: *t, StartS: 1.5 + float64(i), PopulateS: 2, Leader: "n2", PIDs: []int{100, 101, 102}})
	}
	for i, run := range peersPlan(c) {
		if run.Target == "etcd" && run.Mix == mixMixed && run.Clients == 64 && run.ReadConsistency == consistencyStale {
			run.Error = "connecting client 3 to http://127.0.0.1:2379: context deadline exceeded"
		} else {
			ops := float64(1000 * (i%7 + 1) * run.Clients / 8)
			run.Report = &benchReport{System: run.Target, Mix: run.Mix, Clients: run.Clients, ReadConsistency: run.ReadConsistency,
				OK: int64(ops * 6), OpsPerSec: ops, Latency: latencyStats{P50: 1 + float64(i)/10, P99: 5 + float64(i), P999: 9 + float64(i), Max: 30}}
			if i == 3 {
				run.Report.Errors = 2
				run.Report.ErrorsByKind = []benchErrorKind{{Kind: "HTTP 503", Count: 2, Example: "no leader"}}
			}
		}
		r.Runs = append(r.Runs, run)
	}
	r.ratios()
	return r
}

// TestPeersRatiosCompareLikeWithLike: each run is measured against
// shoal's run of the same mix, clients and read consistency.
func TestPeersRatiosCompareLikeWithLike(t *testing.T) {
	r := syntheticPeersReport(t.TempDir())
	for _, run := range r.Runs {
		base := r.shoalRun(run)
		switch {
		case run.Report == nil:
			if run.ShoalRatio != 0 {
				t.Errorf("%+v: a failed run with a ratio", run)
			}
		case base == nil:
			t.Errorf("%+v: no shoal run to compare with", run)
		default:
			if base.Mix != run.Mix || base.Clients != run.Clients || base.ReadConsistency != run.ReadConsistency {
				t.Errorf("%+v compared with %+v", run, base)
			}
			if want := base.Report.OpsPerSec / run.Report.OpsPerSec; run.ShoalRatio != want {
				t.Errorf("%+v: ratio %v, want %v", run, run.ShoalRatio, want)
			}
		}
	}
	// Without shoal's run, there is nothing to compare with.
	r.Runs = slices.DeleteFunc(r.Runs, func(run *peersRun) bool { return run.Target == "shoal" && run.Mix == mixRead })
	r.ratios()
	for _, run := range r.Runs {
		if run.Mix == mixRead && run.ShoalRatio != 0 {
			t.Errorf("%+v: a ratio without shoal's run", run)
		}
	}
}

// TestPeersTables: a table per mix, the settings beside the numbers,
// its rows in order (by clients, linearizable reads before stale ones,
// the targets in order) and its columns aligned.
func TestPeersTables(t *testing.T) {
	r := syntheticPeersReport("/out")
	var b bytes.Buffer
	r.printTables(&b)
	out := b.String()
	for _, want := range []string{
		"write mix: 100-byte values, keys drawn from 10000, 6s measured after 2s of warmup",
		"read mix: ", "mixed mix: ",
		"nats-default  NATS's default: the stream leader answers once a majority (2 of 3) holds the write in memory",
		"etcd          serializable: Get with WithSerializable()",
		"shoal ÷ this: shoal's ops/s over the row's, at the same clients and read consistency",
		"etcd v3.7.3: built in 131.2s (downloads included)", "nats-server v2.15.2: cached",
		"shoal, read mix, 64 clients, linearizable reads: 2 × HTTP 503, e.g. no leader",
		"etcd, mixed mix, 64 clients, stale reads: failed: connecting client 3 to http://127.0.0.1:2379",
		"wall time: 5m21s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the tables lack %q:\n%s", want, out)
		}
	}
	tables := strings.Split(out, "\n\n")
	for _, mix := range benchMixes {
		i := slices.IndexFunc(tables, func(s string) bool { return strings.HasPrefix(s, mix+" mix: ") })
		if i < 0 || i+1 == len(tables) {
			t.Fatalf("no %s table:\n%s", mix, out)
		}
		lines := strings.Split(tables[i+1], "\n")
		head := lines[0]
		cols := []string{"clients", "target", "writes acknowledged", "ops/s", "p50 ms", "p99 ms", "p99.9 ms", "errors", "shoal ÷ this"}
		if mix != mixWrite {
			cols = slices.Insert(cols, 3, "reads")
		}
		var starts []int
		for _, c := range cols {
			at := strings.Index(head, c)
			if at < 0 || (len(starts) > 0 && at <= starts[len(starts)-1]) {
				t.Fatalf("%s: the header %q lacks %q, or has it out of order", mix, head, c)
			}
			starts = append(starts, at)
		}
		// cell is the text under heading ci.
		cell := func(line string, ci int) string {
			end := len(line)
			if ci+1 < len(starts) {
				end = min(end, starts[ci+1])
			}
			return strings.TrimSpace(line[min(starts[ci], end):end])
		}
		var order []string
		for _, line := range lines[1:] {
			if line == "" {
				break
			}
			f := strings.Fields(line)
			o := cell(line, 0) + " " + cell(line, 1)
			if mix != mixWrite {
				o += " " + cell(line, 3)
			}
			order = append(order, o)
			// Every cell starts under its heading.
			for ci, at := range starts {
				if at >= len(line) || (at > 0 && (line[at-1] != ' ' || line[at] == ' ')) {
					t.Errorf("%s: column %q is not aligned in %q", mix, cols[ci], line)
				}
			}
			if f[1] == "shoal" && f[len(f)-1] != "1.00" {
				t.Errorf("%s: shoal's own row has ratio %s, want 1.00", mix, f[len(f)-1])
			}
		}
		var want []string
		for _, row := range r.rows(mix) {
			w := fmt.Sprintf("%d %s", row.Clients, row.Target)
			if mix != mixWrite {
				w += " " + row.Reads
			}
			want = append(want, w)
		}
		if !slices.Equal(order, want) {
			t.Errorf("%s: rows %q, want %q", mix, order, want)
		}
	}
}

// TestPeersReportFiles: the report's three files, the page self-contained
// with a well-formed SVG chart of ops/s and one of p99 per mix and
// concurrency, a bar per row.
func TestPeersReportFiles(t *testing.T) {
	dir := t.TempDir()
	r := syntheticPeersReport(dir)
	if err := r.write(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "peers.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back peersReport
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&back); err != nil {
		t.Fatalf("peers.json: %v", err)
	}
	if len(back.Runs) != len(r.Runs) || len(back.Targets) != 4 || back.Targets[2].Durability == "" || back.Runs[1].ShoalRatio == 0 {
		t.Errorf("peers.json lost something: %d runs, %d targets", len(back.Runs), len(back.Targets))
	}
	if txt, err := os.ReadFile(filepath.Join(dir, "peers.txt")); err != nil || !strings.Contains(string(txt), "write mix:") {
		t.Errorf("peers.txt: %v\n%s", err, txt)
	}
	page, err := os.ReadFile(filepath.Join(dir, "peers.html"))
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	for _, bad := range []string{"<script", "<link", "src=", "href=", "@import", "url("} {
		if strings.Contains(html, bad) {
			t.Errorf("the page is not self-contained: it has %q", bad)
		}
	}
	// An address in an attribute is something to fetch, but for SVG's
	// namespace (an address in the text, such as a node's, is not).
	if urls := regexp.MustCompile(`=\s*"?https?://[^"\s>]*`).FindAllString(html, -1); slices.ContainsFunc(urls, func(u string) bool { return u != `="http://www.w3.org/2000/svg` }) {
		t.Errorf("the page refers to %v", urls)
	}
	svgs := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(html, -1)
	if want := len(benchMixes) * 2 * 2; len(svgs) != want {
		t.Fatalf("%d charts, want %d (ops/s and p99 per mix and concurrency)", len(svgs), want)
	}
	for i, svg := range svgs {
		var doc struct {
			Rects []struct {
				Width string `xml:"width,attr"`
			} `xml:"rect"`
			Texts []string `xml:"text"`
		}
		if err := xml.Unmarshal([]byte(svg), &doc); err != nil {
			t.Fatalf("chart %d is not well-formed: %v\n%s", i, err, svg)
		}
		mix := benchMixes[i/4]
		var rows int
		for _, row := range r.rows(mix) {
			if row.Clients == r.Settings.Clients[i/2%2] {
				rows++
			}
		}
		if len(doc.Rects) != rows {
			t.Errorf("chart %d (%s mix) has %d bars, want %d", i, mix, len(doc.Rects), rows)
		}
		for _, rect := range doc.Rects {
			if w, err := strconv.ParseFloat(rect.Width, 64); err != nil || w < 0 || w > 420 {
				t.Errorf("chart %d: a bar %q wide", i, rect.Width)
			}
		}
	}
	for _, want := range []string{"sync_interval: always", "nats-default", "serializable", "direct get", "failed: connecting client 3", peersEtcdVersion, "131.2"} {
		if !strings.Contains(html, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// TestPeerProcStop: a process is stopped by SIGTERM; one that ignores it
// is killed after the grace, and so is what it started.
func TestPeerProcStop(t *testing.T) {
	dir := t.TempDir()
	p, err := startPeerProc("sleeper", filepath.Join(dir, "sleeper.log"), "", nil, "sh", "-c", "exec sleep 60")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.stop(30 * time.Second); err != nil {
		t.Errorf("a process that takes SIGTERM: %v", err)
	}
	stubborn, err := startPeerProc("stubborn", filepath.Join(dir, "stubborn.log"), "", nil, "sh", "-c", "trap '' TERM; sleep 60 & echo $!; wait")
	if err != nil {
		t.Fatal(err)
	}
	// Its child's PID, once the shell has started it.
	var child int
	serveEventually(t, 10*time.Second, "the child's PID in the log", func() error {
		b, _ := os.ReadFile(stubborn.logPath)
		child, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err
	})
	err = stubborn.stop(200 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "ignored SIGTERM") {
		t.Errorf("a process that ignores SIGTERM: %v, want it killed", err)
	}
	// The child was in the group: killed too (a zombie until init reaps
	// it, which Kill(0) still finds, so look at its state).
	serveEventually(t, 10*time.Second, "the child gone", func() error {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		if err != nil || strings.Contains(string(b), ") Z ") {
			return nil
		}
		return fmt.Errorf("pid %d still runs: %s", child, b)
	})
	// A build step interrupted before its end is stopped.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := runPeerProc(ctx, "step", filepath.Join(dir, "step.log"), "", nil, "sleep", "60"); !errors.Is(err, context.Canceled) {
		t.Errorf("an interrupted step: %v, want context.Canceled", err)
	}
}

// TestBenchPeers runs shoal bench peers for real, briefly: it builds
// etcd and NATS the first time (minutes), so it runs only with
// -bench-peers; make bench-peers is the full check.
func TestBenchPeers(t *testing.T) {
	if !*benchPeersE2E {
		t.Skip("builds etcd and NATS and starts four clusters: go test -run TestBenchPeers -bench-peers (make bench-peers runs it in full)")
	}
	out := t.TempDir()
	args := []string{"bench", "peers", "--out", out, "--duration", "1s", "--warmup", "300ms", "--clients", "4", "--keys", "200"}
	if *benchPeersDir != "" {
		args = append(args, "--cache", *benchPeersDir)
	}
	code, stdout, stderr := shoal(t, args...)
	if code != exitValid {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "peers.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep peersReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 4+6+6 || len(rep.Failures) != 0 {
		t.Errorf("%d runs, failures %q", len(rep.Runs), rep.Failures)
	}
	for _, run := range rep.Runs {
		if run.Report == nil || run.Report.OK == 0 || run.Report.Errors != 0 || run.Report.NotFound != 0 {
			t.Errorf("%s %s %d %s: %+v %s", run.Target, run.Mix, run.Clients, run.ReadConsistency, run.Report, run.Error)
		}
	}
	for _, tr := range rep.Targets {
		if len(tr.PIDs) != 3 {
			t.Errorf("%s: PIDs %v", tr.Name, tr.PIDs)
		}
		for _, pid := range tr.PIDs {
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("%s: pid %d is still there after the run (%v)", tr.Name, pid, err)
			}
		}
	}
	if !strings.Contains(stdout, "report: "+filepath.Join(out, "peers.html")) {
		t.Errorf("stdout does not give the report's path:\n%s", stdout)
	}
}
