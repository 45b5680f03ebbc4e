package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
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
	mixWrite = "write" // every operation a write
	mixRead  = "read"  // every operation a read of a pre-populated key
	mixMixed = "mixed" // half and half, drawn per operation
)

// benchMixes are the mixes in the order reports list them.
var benchMixes = []string{mixWrite, mixRead, mixMixed}

// Read consistencies (--read-consistency), in shoal's API's words for
// every system: a linearizable read sees every write acknowledged before
// it began; a stale one is answered from one replica's state and may
// miss some.
const (
	consistencyLinearizable = live.ConsistencyLinearizable
	consistencyStale        = live.ConsistencyStale
)

// benchConfig is one run of shoal bench.
type benchConfig struct {
	system      *benchSystem
	consistency string   // of the reads
	addrs       []string // in the form system.dial takes
	clients     int
	duration    time.Duration
	warmup      time.Duration
	valueSize   int
	mix         string
	keys        int
	timeout     time.Duration // per request
	token       string        // the ingest mix's bearer token ("": the API token)
	api         string        // shoal: apiKV (/v1/kv), apiData (objects through /v1/data), apiGraphQL or apiGraphQLRelation (/v1/graphql)
	access      benchAccess   // shoal: the API token and TLS of every request
	bucket      string        // NATS: the KV bucket
	replicas    int           // NATS: the bucket's replicas, should bench create it
	// populated says every key holds a value already, so that a run
	// with reads writes none first (shoal bench peers writes them once
	// per cluster).
	populated bool
}

// latencyMethod says how the percentiles are computed, in the report.
const latencyMethod = "exact: every successful operation's latency is kept and the merged list sorted (nearest rank)"

// benchReport is the outcome of a run, printed as a table or as JSON.
type benchReport struct {
	// System is shoal, etcd or nats; Write and Read say what one
	// operation is, and ReadConsistency what a read promises ("" in the
	// write mix, which has none).
	System          string   `json:"system"`
	ReadConsistency string   `json:"read_consistency,omitempty"`
	Write           string   `json:"write,omitempty"`
	Read            string   `json:"read,omitempty"`
	Connections     string   `json:"connections"`
	Bucket          string   `json:"bucket,omitempty"` // nats: the KV bucket
	Addrs           []string `json:"addrs"`
	LeftOut         []string `json:"left_out,omitempty"` // addresses not reachable, or not ready within --timeout
	Mix             string   `json:"mix"`
	Clients         int      `json:"clients"`
	DurationS       float64  `json:"duration_s"`
	WarmupS         float64  `json:"warmup_s"`
	ValueSize       int      `json:"value_size"`
	Keys            int      `json:"keys"`
	LatencyMethod   string   `json:"latency_method"`
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
	// Ingest is the ingest mix's: the messages stored and how long after
	// their acknowledgement.
	Ingest *ingestReport `json:"ingest,omitempty"`
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

const benchUsage = `usage: shoal bench [--system shoal|etcd|nats] [--addr ADDR,...] [--clients N] [--duration D] [--warmup D]
                   [--value-size BYTES] [--mix write|read|mixed|ingest] [--api kv|data|graphql|graphql-relation] [--keys N]
                   [--read-consistency linearizable|stale] [--token TOKEN] [--ca FILE] [--json]
       shoal bench peers [flags]   (shoal, etcd and NATS side by side; shoal bench peers -h)

Loads a running cluster and reports throughput and latency: shoal through
its HTTP API (the default), etcd through its Go client (clientv3), or a
NATS JetStream KV bucket through nats.go. N clients, each with its own
connection, are spread over the addresses round-robin and issue
operations back to back: writes (write), reads (read), or half of each
(mixed), on keys drawn uniformly from --keys. For read and mixed, every
key is written once first. A warmup runs before the measured window and
is not counted. Latency percentiles are exact (every latency kept and
sorted).

--api data (shoal only) works on objects instead of raw keys: it PUTs
and GETs the example model's Customers through /v1/data/Customer/{key}
(the key is the id, --value-size bytes go into first_name), on a cluster
serving the example model (shoal serve --dev, or --model
scenarios/examples/model.yaml); each write is validated, indexed and
keeps the object's history. --api graphql does the same through POST
/v1/graphql: putCustomer for a write, a lookup by key selecting five
fields for a read. --api graphql-relation first gives every customer 2
orders, and reads each customer with its orders (a one-level relation:
the lookup, then the customer's orders listed from every replicaset).

--mix ingest (shoal only) hands messages to the inbound pipeline instead:
POST /v1/ingest/crm, each message with an id of its own, on a cluster
running the example model and pipeline (shoal serve --model and
--pipeline from scenarios/examples, or --dev). The operations are the
acknowledgements; the report adds the rate at which messages were
settled into objects in the window (the queues' counters) and, sampled,
the time from a message's acknowledgement to its object being readable.
When crm declares token_sha256, every message carries --token (default:
env SHOAL_INGEST_TOKEN, else env SHOAL_TOKEN) as Authorization: Bearer
TOKEN.

shoal: on a cluster with authentication on, every request carries the
API token --token (default: env SHOAL_TOKEN); the writes need a role
that may write kv (writer), the reads one that may read it (reader), the
ingest mix one that may ingest and read the cluster and Customer.
https:// addresses are trusted through the system's roots and --ca.

Reads are linearizable by default (shoal: the leader answers after a
ReadIndex round; etcd: the default Get). --read-consistency stale reads
one replica's state instead (shoal: ?consistency=stale; etcd: a
serializable Get). NATS KV's gets are direct gets, which any caught-up
replica answers: stale is the only consistency it offers.

Exits 0 when it measured, 3 for bad usage, 4 when no node can be reached
(or none answered an operation).

flags:
`

func runBench(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("shoal bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c benchConfig
	system := fs.String("system", "shoal", "what to load: shoal (its HTTP API), etcd (clientv3) or nats (a JetStream KV bucket, nats.go)")
	addr := fs.String("addr", "", "comma-separated addresses of the nodes to load (default: shoal: env SHOAL_ADDR, else "+defaultAddr+"; etcd: "+etcdDefaultAddr+"; nats: "+natsDefaultAddr+")")
	fs.IntVar(&c.clients, "clients", 64, "concurrent clients, each with its own connection")
	fs.DurationVar(&c.duration, "duration", 30*time.Second, "the measured window")
	fs.DurationVar(&c.warmup, "warmup", 3*time.Second, "load before the measured window, not counted")
	fs.IntVar(&c.valueSize, "value-size", 100, "bytes per written value")
	fs.StringVar(&c.mix, "mix", mixMixed, "write, read, mixed (50/50) or ingest (messages through the inbound pipeline)")
	fs.StringVar(&c.api, "api", apiKV, "shoal: kv (keys through /v1/kv), data (the example model's Customers through /v1/data), graphql (the same through /v1/graphql) or graphql-relation (each Customer read with its orders)")
	fs.IntVar(&c.keys, "keys", 1000, "keys drawn uniformly")
	fs.StringVar(&c.consistency, "read-consistency", "", "linearizable or stale (default: the system's first: linearizable for shoal and etcd, stale for nats)")
	fs.StringVar(&c.bucket, "nats-bucket", "shoal-bench", "nats: the KV bucket, created if missing")
	fs.IntVar(&c.replicas, "nats-replicas", 3, "nats: the replicas of the bucket, should bench create it")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "how long one request may take before it counts as a timeout")
	token := fs.String("token", "", "shoal: "+apiTokenUsage+"; --mix ingest: also the messages' token, whose default is env "+tokenEnv+", else env "+apiTokenEnv)
	ca := fs.String("ca", os.Getenv(caEnv), "shoal: "+caUsage)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	if _, done, code, err := parseArgs(fs, args, 0, "no argument"); done {
		return code, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := c.resolve(*system, *addr, set); err != nil {
		return exitUsage, err
	}
	if c.system == shoalSystem {
		var err error
		if c.access, err = newBenchAccess(fs, *token, *ca); err != nil {
			return exitUsage, err
		}
	}
	if c.mix == mixIngest {
		var err error
		if c.token, err = ingestToken(fs, *token); err != nil {
			return exitUsage, err
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ready, unreachable := probeNodes(ctx, c)
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
	rep, err := bench(ctx, c, progress)
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

// resolve checks the flags of a run and fills in what they leave to the
// system: its default addresses and read consistency. set holds the
// names of the flags given. Every problem is named in one usage error.
func (c *benchConfig) resolve(system, addr string, set map[string]bool) error {
	var problems []string
	c.system = benchSystemNamed(system)
	if c.system == nil {
		return usagef("--system %q: want %s", system, strings.Join(benchSystemNames(), ", "))
	}
	switch c.mix {
	case mixWrite, mixRead, mixMixed:
	case mixIngest:
		if c.system != shoalSystem {
			problems = append(problems, "--mix ingest: only for --system shoal")
		}
		if c.api == apiData || isGraphQL(c.api) {
			problems = append(problems, fmt.Sprintf("--api %s: not with --mix ingest, whose messages become objects through the pipeline", c.api))
		}
	default:
		problems = append(problems, fmt.Sprintf("--mix %q: want write, read, mixed or ingest", c.mix))
	}
	switch {
	case c.api != apiKV && c.api != apiData && !isGraphQL(c.api):
		problems = append(problems, fmt.Sprintf("--api %q: want kv, data, graphql or graphql-relation", c.api))
	case c.api != apiKV && c.system != shoalSystem:
		problems = append(problems, fmt.Sprintf("--api %s: only for --system shoal", c.api))
	case isGraphQL(c.api) && c.consistency == consistencyStale:
		problems = append(problems, fmt.Sprintf("--api %s: GraphQL reads are linearizable only, not --read-consistency stale", c.api))
	}
	if c.consistency == "" {
		c.consistency = c.system.consistencies[0]
	}
	if !slices.Contains(c.system.consistencies, c.consistency) {
		why := ""
		if c.system.noConsistency != nil {
			why = ": " + c.system.noConsistency[c.consistency]
		}
		problems = append(problems, fmt.Sprintf("--read-consistency %q: %s offers %s%s", c.consistency, c.system.name, strings.Join(c.system.consistencies, " or "), why))
	}
	for _, f := range []string{"token", "ca"} {
		if set[f] && c.system != shoalSystem {
			problems = append(problems, fmt.Sprintf("--%s: only for --system shoal", f))
		}
	}
	for _, f := range []string{"nats-bucket", "nats-replicas"} {
		if set[f] && c.system != natsSystem {
			problems = append(problems, fmt.Sprintf("--%s: only for --system nats", f))
		}
	}
	if !natsBucketName.MatchString(c.bucket) {
		problems = append(problems, fmt.Sprintf("--nats-bucket %q: want letters, digits, - and _", c.bucket))
	}
	if c.replicas < 1 || c.replicas > 5 {
		problems = append(problems, fmt.Sprintf("--nats-replicas %d: want 1 to 5", c.replicas))
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
	if c.timeout <= 0 {
		problems = append(problems, fmt.Sprintf("--timeout %s: want a positive duration", c.timeout))
	}
	if addr == "" {
		addr = c.system.defaultAddr()
	}
	addrs, err := parseBenchAddrs(c.system, addr)
	if err != nil {
		problems = append(problems, err.Error())
	}
	c.addrs = addrs
	if len(problems) > 0 {
		return usageError{strings.Join(problems, "; ")}
	}
	return nil
}

// parseBenchAddrs splits a comma-separated --addr list and puts each
// address in the form the system's client takes; blanks are skipped.
func parseBenchAddrs(sys *benchSystem, list string) ([]string, error) {
	var addrs []string
	for _, a := range strings.Split(list, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		n, err := sys.normAddr(a)
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, n)
	}
	if len(addrs) == 0 {
		return nil, usagef("--addr: no address given")
	}
	return addrs, nil
}

// hostPortAddr checks an address of the form [scheme://]host:port, the
// scheme one of schemes (the first is the default), and returns it as
// scheme://host:port.
func hostPortAddr(a string, schemes ...string) (string, error) {
	s := a
	if !strings.Contains(s, "://") {
		s = schemes[0] + "://" + s
	}
	u, err := url.Parse(s)
	if err == nil && slices.Contains(schemes, u.Scheme) && u.User == nil && (u.Path == "" || u.Path == "/") && u.RawQuery == "" && u.Fragment == "" {
		if _, port, serr := net.SplitHostPort(u.Host); serr == nil && port != "" {
			if p, perr := strconv.Atoi(port); perr == nil && p > 0 && p < 65536 {
				return u.Scheme + "://" + u.Host, nil
			}
		}
	}
	return "", usagef("--addr: %q is not an address such as %s://127.0.0.1:%d", a, schemes[0], map[string]int{"http": 2379, "nats": 4222}[schemes[0]])
}

// benchSystem is a system shoal bench can load: how to reach its nodes
// and what its operations are, so that one load generator drives them
// all alike.
type benchSystem struct {
	name string
	// consistencies are the read consistencies it offers, its default
	// first; noConsistency says why one is missing.
	consistencies []string
	noConsistency map[string]string
	defaultAddr   func() string
	// normAddr checks one --addr entry and returns it as dial takes it.
	normAddr func(string) (string, error)
	// probe says whether the node at addr can serve, waiting for it
	// until ctx ends.
	probe func(ctx context.Context, addr string, c benchConfig) error
	// prepare readies the ready nodes for the run once (nats: the bucket).
	prepare func(ctx context.Context, addrs []string, c benchConfig) error
	// dial opens one client's connection to the node at addr.
	dial func(ctx context.Context, addr string, c benchConfig) (benchConn, error)
	// write and read say what one operation is, reads by consistency.
	write string
	read  map[string]string
}

// benchConn is one client's connection: the two operations bench
// issues, whichever system it talks to. A failure the system answered
// is an *opError; any other error is a transport failure.
type benchConn interface {
	put(ctx context.Context, key string, value []byte) error
	// get reports found false when the key holds no value.
	get(ctx context.Context, key string) (found bool, err error)
	close()
}

// opError is an operation the system answered with a failure; kind
// groups such failures in the report ("HTTP 503", "etcd: Unavailable").
type opError struct{ kind, msg string }

func (e *opError) Error() string { return e.kind + ": " + e.msg }

// errorKind is the kind and message of an operation's failure.
func errorKind(err error) (kind, msg string) {
	if oe, ok := errors.AsType[*opError](err); ok {
		return oe.kind, oe.msg
	}
	return transportErrorKind(err), err.Error()
}

// benchSystems are the systems bench can load, shoal first.
func benchSystems() []*benchSystem { return []*benchSystem{shoalSystem, etcdSystem, natsSystem} }

// benchSystemNames are the --system values.
func benchSystemNames() []string {
	var names []string
	for _, s := range benchSystems() {
		names = append(names, s.name)
	}
	return names
}

// benchSystemNamed is the system called name, nil if there is none.
func benchSystemNamed(name string) *benchSystem {
	for _, s := range benchSystems() {
		if s.name == name {
			return s
		}
	}
	return nil
}

// shoalSystem is shoal through its HTTP API, each client on its own
// keep-alive connection.
var shoalSystem = &benchSystem{
	name:          "shoal",
	consistencies: []string{consistencyLinearizable, consistencyStale},
	defaultAddr: func() string {
		if a := os.Getenv("SHOAL_ADDR"); a != "" {
			return a
		}
		return defaultAddr
	},
	normAddr: func(a string) (string, error) {
		// The kv commands' address rules.
		cl, err := (&clientFlags{addr: a, timeout: time.Second}).client()
		if err != nil {
			return "", err
		}
		return cl.addrs[0], nil
	},
	probe: probeShoal,
	prepare: func(ctx context.Context, addrs []string, c benchConfig) error {
		if c.api == apiKV {
			return nil
		}
		if err := probeDataModel(ctx, addrs[0], c); err != nil {
			return err
		}
		if c.api == apiGraphQLRelation {
			return populateOrders(ctx, addrs, c)
		}
		return nil
	},
	dial: func(_ context.Context, addr string, c benchConfig) (benchConn, error) {
		return &shoalConn{base: addr, hc: newBenchHTTPClient(c.timeout, c.access), stale: c.consistency == consistencyStale, data: c.api == apiData, api: c.api}, nil
	},
	write: "PUT /v1/kv/{key}: acknowledged once a majority of the key's replicaset has it on disk",
	read: map[string]string{
		consistencyLinearizable: "GET /v1/kv/{key}: the key's leader answers after a ReadIndex round (linearizable)",
		consistencyStale:        "GET /v1/kv/{key}?consistency=stale: a member of the key's replicaset answers from its own replica (not linearizable)",
	},
}

// probeFailure is an address left out of a run, and why.
type probeFailure struct {
	addr string
	err  error
}

func (p probeFailure) String() string { return fmt.Sprintf("%s: %v", p.addr, p.err) }

// probeNodes asks each address whether it can serve, waiting up to
// --timeout for a node that answers but is not ready yet (a cluster still
// forming), and readies the ready ones for the run. It returns the ready
// addresses, and the others with the reason.
func probeNodes(ctx context.Context, c benchConfig) (ready []string, left []probeFailure) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	errs := make([]error, len(c.addrs))
	var wg sync.WaitGroup
	for i, a := range c.addrs {
		wg.Go(func() { errs[i] = c.system.probe(ctx, a, c) })
	}
	wg.Wait()
	for i, a := range c.addrs {
		if errs[i] == nil {
			ready = append(ready, a)
		} else {
			left = append(left, probeFailure{a, errs[i]})
		}
	}
	if len(ready) > 0 && c.system.prepare != nil {
		if err := c.system.prepare(ctx, ready, c); err != nil {
			for _, a := range ready {
				left = append(left, probeFailure{a, err})
			}
			ready = nil
		}
	}
	return ready, left
}

// probeShoal asks a node's /readyz until it is ready or ctx ends; a node
// nobody listens for is not worth waiting for.
func probeShoal(ctx context.Context, addr string, c benchConfig) error {
	hc := newBenchHTTPClient(min(c.timeout, 3*time.Second), c.access)
	defer hc.CloseIdleConnections()
	for {
		err := func() error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, addr+"/readyz", nil)
			if err != nil {
				return err
			}
			resp, err := hc.Do(req)
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
		if err == nil || dialFailed(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// benchAccess is what every request to shoal carries: the API token
// ("" for none) and the TLS configuration of https:// addresses (nil:
// the defaults).
type benchAccess struct {
	token string
	tls   *tls.Config
}

func newBenchAccess(fs *flag.FlagSet, token, ca string) (benchAccess, error) {
	var a benchAccess
	var err error
	if a.token, err = bearerToken(fs, token, apiTokenEnv); err != nil {
		return a, err
	}
	a.tls, err = trustCA(ca)
	return a, err
}

func newBenchHTTPClient(timeout time.Duration, access benchAccess) *http.Client {
	var rt http.RoundTripper = &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: min(timeout, 3*time.Second), KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		TLSClientConfig:     access.tls,
	}
	if access.token != "" {
		rt = live.BearerTransport{Base: rt, Token: access.token}
	}
	return &http.Client{
		Timeout:       timeout,
		Transport:     rt,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// shoalConn is one client's keep-alive connection to a node's HTTP API.
type shoalConn struct {
	base  string // URL of the node
	hc    *http.Client
	stale bool   // reads ask for ?consistency=stale
	data  bool   // --api data: Customers through /v1/data (bench_data.go)
	api   string // --api: graphql and graphql-relation go through /v1/graphql (bench_graphql.go)
	body  []byte // the PUT's body, reused
	// answer is a GraphQL answer's body, reused.
	answer []byte
}

func (s *shoalConn) put(ctx context.Context, key string, value []byte) error {
	if isGraphQL(s.api) {
		return s.graphqlPut(ctx, key, value)
	}
	// The values are letters and digits: nothing to escape.
	path := live.KeyPath(key)
	if s.data {
		s.body, path = dataBody(s.body[:0], key, value), dataPath(key)
	} else {
		s.body = append(append(append(s.body[:0], `{"value":"`...), value...), `"}`...)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, s.base+path, bytes.NewReader(s.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	_, err = s.send(req, false)
	return err
}

func (s *shoalConn) get(ctx context.Context, key string) (bool, error) {
	if isGraphQL(s.api) {
		return s.graphqlGet(ctx, key)
	}
	u := s.base + live.KeyPath(key)
	if s.data {
		u = s.base + dataPath(key)
	}
	if s.stale {
		u += "?consistency=" + live.ConsistencyStale
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	return s.send(req, true)
}

func (s *shoalConn) close() { s.hc.CloseIdleConnections() }

// send sends req and reads its answer to the end, which keeps the
// connection for the next request; found is false for a read of a key
// with no value. A stale read whose answer does not say it was one
// fails: the node would have measured another kind of read.
func (s *shoalConn) send(req *http.Request, read bool) (found bool, err error) {
	return s.sendTo(req, read, nil)
}

// sendTo is send that appends the body of a 200 to body, if not nil.
func (s *shoalConn) sendTo(req *http.Request, read bool, body *[]byte) (found bool, err error) {
	resp, err := s.hc.Do(req)
	if err != nil {
		return false, err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return false, err
	}
	answered := resp.StatusCode == http.StatusOK || (read && resp.StatusCode == http.StatusNotFound)
	if answered && read && s.stale {
		if got := resp.Header.Get(live.ConsistencyHeader); got != live.ConsistencyStale {
			return false, &opError{kind: "not a stale read", msg: fmt.Sprintf("asked for ?consistency=stale, and the answer's %s header is %q: the node does not serve stale reads", live.ConsistencyHeader, got)}
		}
	}
	if answered {
		if body != nil && resp.StatusCode == http.StatusOK {
			*body = append(*body, b...)
		}
		return resp.StatusCode == http.StatusOK, nil
	}
	var e live.ErrorBody
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	return false, &opError{kind: "HTTP " + strconv.Itoa(resp.StatusCode), msg: msg}
}

// benchKey is the name of key i.
func benchKey(i int) string { return fmt.Sprintf("bench-%06d", i) }

// benchClient is one client's connection and what it measured.
type benchClient struct {
	id      int
	addr    string
	conn    benchConn
	timeout time.Duration
	rng     *rand.Rand
	value   []byte // its bytes varied per write
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

// benchValueLetters are what values are made of: nothing any system
// would escape.
const benchValueLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func newBenchClient(id int, addr string, conn benchConn, c benchConfig, seed uint64) *benchClient {
	bc := &benchClient{id: id, addr: addr, conn: conn, timeout: c.timeout, rng: rand.New(rand.NewPCG(seed, uint64(id))), errs: map[string]*benchErrorKind{}}
	bc.value = make([]byte, c.valueSize)
	for i := range bc.value {
		bc.value[i] = benchValueLetters[bc.rng.IntN(len(benchValueLetters))]
	}
	return bc
}

// do runs one operation on key and returns the error kind and message
// when it failed ("" when it succeeded), and whether a read found nothing.
func (bc *benchClient) do(ctx context.Context, op int, key string) (kind, msg string, notFound bool) {
	ctx, cancel := context.WithTimeout(ctx, bc.timeout)
	defer cancel()
	var err error
	found := true
	if op == opWrite {
		// Vary the value so that no two writes are alike.
		if len(bc.value) > 0 {
			bc.value[bc.rng.IntN(len(bc.value))] = byte('a' + bc.rng.IntN(26))
		}
		err = bc.conn.put(ctx, key, bc.value)
	} else {
		found, err = bc.conn.get(ctx, key)
	}
	if err != nil {
		kind, msg = errorKind(err)
		return kind, truncate(msg, 200), false
	}
	return "", "", !found
}

// transportErrorKind names a failure to get an answer, in a few words.
func transportErrorKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "transport: timeout"
	case errors.Is(err, context.Canceled):
		return "transport: canceled"
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
// measured, merged at the end. It stops early, with ctx's error, when
// ctx ends.
func bench(ctx context.Context, c benchConfig, progress func(string, ...any)) (*benchReport, error) {
	if c.mix == mixIngest {
		return benchIngest(ctx, c, progress)
	}
	clients, err := dialBenchClients(ctx, c, c.clients)
	defer closeBenchClients(clients)
	if err != nil {
		return nil, err
	}
	if c.mix != mixWrite && !c.populated {
		progress("writing %d keys before reading them", c.keys)
		if err := prepopulate(ctx, clients, c.keys); err != nil {
			return nil, err
		}
	}
	progress("%d clients, %s mix: warming up for %s, then measuring for %s", c.clients, c.mix, c.warmup, c.duration)
	start := time.Now().Add(c.warmup)
	end := start.Add(c.duration)
	var wg sync.WaitGroup
	for _, bc := range clients {
		wg.Go(func() { bc.run(ctx, c, start, end) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("stopped before the end of the measured window: %w", err)
	}
	return report(c, clients), nil
}

// dialBenchClients connects n clients, spread over the addresses
// round-robin. On error it returns those it connected, for the caller to
// close.
func dialBenchClients(ctx context.Context, c benchConfig, n int) ([]*benchClient, error) {
	seed := uint64(time.Now().UnixNano())
	clients := make([]*benchClient, 0, n)
	for i := range n {
		addr := c.addrs[i%len(c.addrs)]
		conn, err := c.system.dial(ctx, addr, c)
		if err != nil {
			return clients, fmt.Errorf("connecting client %d to %s: %w", i, addr, err)
		}
		clients = append(clients, newBenchClient(i, addr, conn, c, seed))
	}
	return clients, nil
}

// closeBenchClients closes every client's connection.
func closeBenchClients(clients []*benchClient) {
	for _, bc := range clients {
		bc.conn.close()
	}
}

// populateKeys writes every key once through n clients of their own.
func populateKeys(ctx context.Context, c benchConfig, n int) error {
	clients, err := dialBenchClients(ctx, c, n)
	defer closeBenchClients(clients)
	if err != nil {
		return err
	}
	return prepopulate(ctx, clients, c.keys)
}

// prepopulate writes every key once, the keys split among the clients; a
// write that fails is tried again a few times.
func prepopulate(ctx context.Context, clients []*benchClient, keys int) error {
	const attempts = 5
	errs := make(chan error, len(clients))
	var wg sync.WaitGroup
	for ci, bc := range clients {
		wg.Go(func() {
			for k := ci; k < keys; k += len(clients) {
				var kind, msg string
				for range attempts {
					if kind, msg, _ = bc.do(ctx, opWrite, benchKey(k)); kind == "" || ctx.Err() != nil {
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

// run issues operations until end, or until ctx ends; those started in
// [start, end) count.
func (bc *benchClient) run(ctx context.Context, c benchConfig, start, end time.Time) {
	for ctx.Err() == nil {
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
		kind, msg, notFound := bc.do(ctx, op, benchKey(bc.rng.IntN(c.keys)))
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
		System: c.system.name, Write: c.system.write, Connections: "one per client",
		Addrs: c.addrs, Mix: c.mix, Clients: c.clients, DurationS: c.duration.Seconds(), WarmupS: c.warmup.Seconds(),
		ValueSize: c.valueSize, Keys: c.keys, LatencyMethod: latencyMethod, ByOp: map[string]*benchOpReport{},
		ErrorsByKind: []benchErrorKind{},
	}
	if c.mix != mixWrite && c.mix != mixIngest {
		rep.ReadConsistency, rep.Read = c.consistency, c.system.read[c.consistency]
	}
	switch {
	case c.api == apiData:
		rep.Write = dataWrite
		if rep.Read != "" {
			rep.Read = dataRead[c.consistency]
		}
	case isGraphQL(c.api):
		rep.Write = graphqlWrite
		if rep.Read != "" {
			rep.Read = graphqlRead[c.api]
		}
	}
	if c.mix == mixRead {
		rep.Write = ""
	}
	if c.system == natsSystem {
		rep.Bucket = c.bucket
	}
	var all []int64
	errs := map[string]*benchErrorKind{}
	for op, name := range opNames {
		if ((c.mix == mixWrite || c.mix == mixIngest) && op == opRead) || (c.mix == mixRead && op == opWrite) {
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
	fmt.Fprintf(w, "shoal bench: %s, %s mix, %d clients over %s, %s measured after a %s warmup, %d-byte values, %d keys\n",
		r.System, r.Mix, r.Clients, addrs, time.Duration(r.DurationS*float64(time.Second)), time.Duration(r.WarmupS*float64(time.Second)), r.ValueSize, r.Keys)
	if r.Write != "" {
		fmt.Fprintf(w, "  write: %s\n", r.Write)
	}
	if r.Read != "" {
		fmt.Fprintf(w, "  read (%s): %s\n", r.ReadConsistency, r.Read)
	}
	if r.Bucket != "" {
		fmt.Fprintf(w, "  bucket: %s\n", r.Bucket)
	}
	fmt.Fprintf(w, "  connections: %s\n\n", r.Connections)
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
	if in := r.Ingest; in != nil {
		fmt.Fprintf(w, "\nstored: %d messages settled in the window, %.0f/s; %d waiting at its end\n", in.Settled, in.StoredPerSec, in.Waiting)
		if in.Repaired > 0 {
			fmt.Fprintf(w, "%d messages went to the repair queue (shoal repair list says why)\n", in.Repaired)
		}
		fmt.Fprintf(w, "acknowledged to stored (%d sampled): p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", in.Samples, in.EndToEnd.P50, in.EndToEnd.P99, in.EndToEnd.Max)
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
