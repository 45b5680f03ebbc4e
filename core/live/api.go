package live

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/shoaldb/shoal/core/graphql"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/service"
)

// Backend is what the API needs from a running node.
type Backend interface {
	// Do runs one key-value request through the cluster (its Client and
	// Seq are the runtime's to set) and returns its answer: StatusOK, or
	// StatusMismatch for a cas that found another value. The runtime
	// forwards the request to the key's leader (a stale get: to a member
	// of its replicaset), so the API never redirects. ctx bounds it; on
	// ctx's end the outcome is unknown (ErrUnknownOutcome).
	Do(ctx context.Context, req kv.Request) (kv.Response, error)
	// Cluster describes the cluster as this node sees it.
	Cluster(ctx context.Context) (ClusterStatus, error)
	// Ready reports whether the node can serve: it has joined a formed
	// cluster and knows a leader of group 0 and of its replicaset; why not
	// otherwise.
	Ready() (bool, string)
}

// Errors a Backend returns; the API answers them with 504 and 503.
var (
	// ErrUnknownOutcome: the request was sent on its way but no answer
	// came in time. A write may have been applied, or may still be.
	ErrUnknownOutcome = errors.New("the outcome is unknown: the request may or may not have taken effect")
	// ErrUnavailable: no leader was reachable in time and nothing was
	// done, so the request may be retried anywhere. Only for reads, or
	// when the runtime knows that nothing was sent. Wrap it with the
	// reason: fmt.Errorf("%w: no leader is known", ErrUnavailable).
	ErrUnavailable = errors.New("unavailable, nothing was done")
)

// ClusterStatus is the cluster as one node sees it: the configuration it
// has applied from group 0, and its own view of every Raft group it is in.
// It is the body of GET /v1/cluster.
type ClusterStatus struct {
	// Node is the instance that answered.
	Node        string             `json:"node"`
	Instances   []InstanceStatus   `json:"instances"`   // by Raft ID
	Replicasets []ReplicasetStatus `json:"replicasets"` // by group
	// Voters are group 0's voters; every other instance is a learner.
	Voters []string `json:"voters"`
	// Groups are the Raft groups this node belongs to, group 0 first.
	Groups []GroupStatus `json:"groups"`
	// Name is the cluster's name ("" for none).
	Name string `json:"name,omitempty"`
	// Replication is, for each replicaset this node serves and each
	// destination of type shoal, the changes still to deliver.
	Replication []ReplicationStatus `json:"replication,omitempty"`
	// Rebalance is the buckets' spread and moves (GET
	// /v1/cluster/rebalance's body).
	Rebalance *RebalanceStatus `json:"rebalance,omitempty"`
}

// ReplicationStatus is one replicaset's replication lag to another
// cluster (node.ReplicationLag), as this node applied its outbound queue.
type ReplicationStatus struct {
	Replicaset  string `json:"replicaset"`
	Destination string `json:"destination"`
	Cluster     string `json:"cluster"`
	// Entries are the changes waiting; OldestSeconds how long the oldest
	// has waited.
	Entries       int     `json:"entries"`
	OldestSeconds float64 `json:"oldest_seconds"`
}

// InstanceStatus is one instance of the cluster (cluster.Instance).
type InstanceStatus struct {
	Name       string `json:"name"`
	RaftID     uint64 `json:"raft_id"`
	Replicaset string `json:"replicaset"`
	// Domain is the failure domain: key=value pairs such as zone=eu-1.
	Domain map[string]string `json:"domain,omitempty"`
	// State is online, offline or expelled (cluster.State); Target is
	// the state the governor is taking the instance to, and Reason says
	// why it was set.
	State  string `json:"state"`
	Target string `json:"target"`
	Reason string `json:"reason,omitempty"`
}

// ReplicasetStatus is one replicaset (cluster.Replicaset) and its leader.
type ReplicasetStatus struct {
	Name    string   `json:"name"`
	Group   uint64   `json:"group"`
	Members []string `json:"members"`
	// Complete: as many members as the replication factor asks.
	Complete bool `json:"complete"`
	// Leader is the leader of the replicaset's group as this node last
	// knew it, "" when it knows none.
	Leader string `json:"leader"`
}

// GroupStatus is a Raft group as this node sees it (node.Status).
type GroupStatus struct {
	Group uint64 `json:"group"`
	// Name is "config" for group 0, else the replicaset's name.
	Name string `json:"name"`
	Term uint64 `json:"term"`
	// Role is follower, precandidate, candidate or leader.
	Role string `json:"role"`
	// Leader is "" when this node knows none.
	Leader  string `json:"leader"`
	Commit  uint64 `json:"commit"`
	Applied uint64 `json:"applied"`
}

// KVResult is the body of a key-value request that succeeded: the key,
// the value it holds (none after a delete), and the Raft index that served
// the request (the write's entry, or a read's read index).
type KVResult struct {
	Key   string  `json:"key"`
	Value *string `json:"value,omitempty"`
	Index uint64  `json:"index"`
}

// ErrorBody is the body of every error but a cas mismatch: what is wrong
// and where, for people (Error), and its kind, for programs (Code, see
// ErrorCode). A get of a missing key (404) names the key and the read
// index.
type ErrorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	Key   string `json:"key,omitempty"`
	Index uint64 `json:"index,omitempty"`
}

// MismatchBody is the body of a cas that found another value (409):
// Current is that value, null when the key is absent.
type MismatchBody struct {
	Error   string  `json:"error"`
	Code    string  `json:"code"`
	Key     string  `json:"key"`
	Current *string `json:"current"`
	Index   uint64  `json:"index"`
}

// ErrorCode is the code of an error answered with status: one word per
// kind of failure a program may act on (graphql.StatusCode holds the
// table, which GraphQL's extensions.code shares). The message says the
// rest.
func ErrorCode(status int) string { return graphql.StatusCode(status) }

// Limits and defaults of the API.
const (
	// MaxKeyLen bounds a key, in bytes.
	MaxKeyLen = 1024
	// DefaultMaxBody bounds a request body unless APIOptions says otherwise.
	DefaultMaxBody = 1 << 20
	// DefaultTimeout bounds a request unless APIOptions says otherwise.
	DefaultTimeout = 5 * time.Second
)

// APIOptions configures NewAPI. The zero value is usable.
type APIOptions struct {
	// Logger receives the access log and the errors; slog.Default() if nil.
	Logger *slog.Logger
	// Registry receives the request metrics and is served at /metrics;
	// the runtime registers its own collectors there. A fresh registry
	// if nil.
	Registry *prometheus.Registry
	// MaxBody bounds a request body in bytes (DefaultMaxBody if 0).
	MaxBody int64
	// Timeout bounds the work of one request (DefaultTimeout if 0).
	Timeout time.Duration
	// GraphQL bounds a GraphQL request's depth, cost, data calls,
	// objects read and response bytes; a zero field takes core/graphql's
	// default. Timeout bounds its work, the executor's included.
	GraphQL graphql.Limits
	// Services are the custom services served as GraphQL fields and at
	// /v1/services; nil serves those registered with core/service. A
	// name given twice keeps its first, and the other is logged and
	// dropped.
	Services []service.Service
}

// NewAPI is a node's HTTP API (JSON, v1) over b:
//
//	PUT    /v1/kv/{key}      {"value": "..."}                       → 200 {"key", "value", "index"}
//	GET    /v1/kv/{key}                                             → 200 {"key", "value", "index"}, 404
//	DELETE /v1/kv/{key}                                             → 200 {"key", "index"}
//	POST   /v1/kv/{key}/cas  {"expected": "..." | null, "value": "..."} → 200, 409 {"error", "key", "current", "index"}
//	GET    /v1/cluster                                              → 200 ClusterStatus
//	POST   /v1/cluster/instances/{name}/expel (?force=true)         → 200 {"expelling"}, 404, 409 refused, 504 undecided
//	GET    /v1/cluster/rebalance                                    → 200 RebalanceStatus
//	POST   /v1/cluster/rebalance/pause, /resume                     → 200 {"paused"}, 504 undecided
//	POST   /v1/cluster/rebalance/abort                              → 200 {"aborted"}, 409 no move under way, 504 undecided
//	GET    /v1/model                 (?format=yaml for the source)  → 200 ModelBody, 404 without a model
//	GET    /v1/model/versions                                       → 200 ModelStatus
//	DELETE /v1/model/pending?revision=N                             → 200 {"cancelled"}, 409 none pending, 504 undecided
//	PUT    /v1/model                 the model's YAML               → 200 {"revision"}, 400, 422 refused, 504 undecided
//	PUT    /v1/data/{type}?version=N the object's JSON              → 200 ObjectBody, 400 invalid, 409 unique index, 412
//	GET    /v1/data/{type}?FILTERS&limit=N&after=CURSOR (&consistency=stale) → 200 ListBody: a page in key order, the next cursor
//	PUT    /v1/data/{type}/{key}     the object's JSON, of that key → as PUT /v1/data/{type}; 400 when the body's key is another
//	PATCH  /v1/data/{type}/{key}     a JSON merge patch (RFC 7396)  → 200 ObjectBody as patched, 400, 404, 409 kept changing, 412
//	GET    /v1/data/{type}/{key}     (?consistency=stale)           → 200 ObjectBody with the object, 404
//	GET    /v1/data/{type}/{key}/history (?consistency=stale)       → 200 HistoryBody: kept versions oldest first, the object last; 404
//	DELETE /v1/data/{type}/{key}                                    → 200 ObjectBody
//	POST   /v1/graphql       {"query", "variables", "operationName"} → 200 {"data", "errors"} (GraphQL's errors too), 400 a malformed body
//	GET    /v1/graphql?query=Q&variables=JSON&operationName=N       → the same for a query; 405 a mutation
//	GET    /v1/graphql/schema                                       → 200 the model's GraphQL SDL (text/plain), 404 without a model
//	GET    /v1/services                                             → 200 ServicesBody: the custom services (api_service.go)
//	POST   /v1/services/{name}       {"ARG": value, ...}            → 200 {"result"}, 400, 403, 404, 412, 422, 503, 504, the service's status
//	GET    /v1/services/{name}?ARG=VALUE (queries)                  → the same for a query; 405 a mutation
//	POST   /v1/ingest/{connector} a JSON object; Idempotency-Key: id → 202 IngestResult, 400, 401/403 token, 413, 429 (Retry-After) queue full
//	GET    /v1/queue                                                → 200 [QueueBody] every replicaset's queues
//	GET    /v1/repair?replicaset=RS&after=N&limit=M                 → 200 QueueBody with its repair entries
//	GET    /v1/repair/{replicaset}/{position}                       → 200 RepairEntry, 404
//	PUT    /v1/repair/{replicaset}/{position}  the new payload      → 200, 404
//	POST   /v1/repair/{replicaset}/{position}/retry                 → 200, 404, 429
//	DELETE /v1/repair/{replicaset}/{position}                       → 200, 404
//	GET    /v1/pipeline                                             → 200 PipelineStatus
//	PUT    /v1/pipeline              the pipeline's YAML (empty: none) → 200 {"revision"}, 400, 422, 504
//	POST   /v1/tokens                {"name", "role", "token"?}     → 201 NewTokenBody (the secret, shown once; "token" supplies it), 400, 422
//	GET    /v1/tokens                                               → 200 [TokenBody] (no secrets, no digests)
//	DELETE /v1/tokens/{id}           (its ID or name)               → 200 {"revoked"}, 404, 422 the last admin token
//	GET    /v1/roles, /v1/roles/{name}                              → 200 [RoleBody], RoleBody, 404
//	PUT    /v1/roles/{name}          {"read": [...], "write": [...]} → 200 RoleBody, 400, 422
//	DELETE /v1/roles/{name}                                         → 200 {"deleted"}, 404, 422 built in or in use
//	GET    /healthz, /readyz, /metrics
//
// With authentication on (auth.go: once the cluster has a token, or
// auth.required is true) every request but /healthz and /readyz needs
// Authorization: Bearer TOKEN, whose role grants what its route needs
// (routeNeeds): 401 without one, 403 when the role does not. GraphQL
// takes any token and checks its role type by type as the query runs
// (api_graphql.go): a field it may not read is an error in the answer,
// and so is _sdl without read of the cluster. APIOptions.GraphQL bounds
// a GraphQL request (core/graphql's Limits), and Timeout its work.
//
// A message handed in carries the request's X- headers (IngestHeaderPrefix)
// and goes to the replicaset of its Shoal-Key header, or of its id.
// The model and data endpoints need a backend that is a ModelBackend
// (else 501), the pipeline endpoints a PipelineBackend, the expel route a
// TopologyBackend and the rebalance routes a RebalanceBackend. An
// object's key is its key fields' values as text, joined by "," when
// there are several; its revision is its ETag, which If-Match takes (412
// when it changed); If-None-Match: * writes only a new object.
//
// A listing filters with FIELD=VALUE and FIELD[OP]=VALUE (OP eq, ne, gt,
// ge, lt, le, in with a comma-separated list, prefix), FIELD a field of
// the type's latest version or a dotted path into its records and maps,
// VALUE as the field's type reads it; limit is 1 to 1000 (default 100).
// Every replicaset answers its own page (linearizable, or stale), and
// the pages are merged: following "next" until it is absent lists every
// object that matched throughout once, in key order, but the listing is
// no snapshot of the whole cluster (core/api's package doc says more).
//
// Keys are percent-decoded path segments of 1 to MaxKeyLen bytes (a "/"
// in a key is sent as %2F, a key "." or ".." as %2E). Every error has a
// JSON body {"error": "...", "code": "..."} saying what is wrong and
// where, and its kind (ErrorCode: bad_request, not_found, ...): 400 bad
// input, 401 (with WWW-Authenticate) no token and 403 a token not taken
// (an API token's role, or an http connector's token_sha256), 404, 405
// (with Allow), 409, 413 body too large, 415 a Content-Type other than JSON, 503 unavailable or
// not ready, 504 outcome unknown, 500 anything else (logged). The handler logs every request,
// counts it in the registry, and answers 500 rather than panic.
func NewAPI(b Backend, opts APIOptions) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Services != nil {
		opts.Services = distinctServices(opts.Services, opts.Logger)
	}
	a := &api{b: b, opts: opts, log: opts.Logger, mux: http.NewServeMux()}
	a.requests = registerCollector(opts.Registry, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shoal_http_requests_total",
		Help: "HTTP API requests answered, by route (the matched pattern, or unmatched) and status code.",
	}, []string{"route", "code"}))
	a.latency = registerCollector(opts.Registry, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "shoal_http_request_duration_seconds",
		Help:    "Time to answer an HTTP API request, by route.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route"}))

	a.handle("PUT /v1/kv/{key}", a.put)
	a.handle("GET /v1/kv/{key}", a.get)
	a.handle("DELETE /v1/kv/{key}", a.delete)
	a.handle("POST /v1/kv/{key}/cas", a.cas)
	a.handle("GET /v1/cluster", a.cluster)
	a.handle("POST /v1/cluster/instances/{name}/expel", a.expel)
	a.handle("GET /v1/cluster/rebalance", a.rebalance)
	a.handle("POST /v1/cluster/rebalance/pause", a.pauseRebalance(true))
	a.handle("POST /v1/cluster/rebalance/resume", a.pauseRebalance(false))
	a.handle("POST /v1/cluster/rebalance/abort", a.abortMove)
	a.handle("GET /v1/model", a.getModel)
	a.handle("PUT /v1/model", a.putModel)
	a.handle("GET /v1/model/versions", a.modelVersions)
	a.handle("DELETE /v1/model/pending", a.cancelModel)
	a.handle("PUT /v1/data/{type}", a.putObject)
	a.handle("GET /v1/data/{type}", a.listObjects)
	a.handle("PUT /v1/data/{type}/{key}", a.putObjectAt)
	a.handle("PATCH /v1/data/{type}/{key}", a.patchObject)
	a.handle("GET /v1/data/{type}/{key}", a.getObject)
	a.handle("GET /v1/data/{type}/{key}/history", a.getObjectHistory)
	a.handle("DELETE /v1/data/{type}/{key}", a.deleteObject)
	a.handle("POST /v1/graphql", a.postGraphQL)
	a.handle("GET /v1/graphql", a.getGraphQL)
	a.handle("GET /v1/graphql/schema", a.getGraphQLSchema)
	a.handle("GET /v1/services", a.listServices)
	a.handle("POST /v1/services/{name}", a.postService)
	a.handle("GET /v1/services/{name}", a.getService)
	a.handle("POST /v1/ingest/{connector}", a.ingest)
	a.handle("GET /v1/queue", a.queues)
	a.handle("GET /v1/repair", a.listRepair)
	a.handle("GET /v1/repair/{replicaset}/{position}", a.getRepair)
	a.handle("PUT /v1/repair/{replicaset}/{position}", a.repair(kv.RepairEdit))
	a.handle("POST /v1/repair/{replicaset}/{position}/retry", a.repair(kv.RepairRetry))
	a.handle("DELETE /v1/repair/{replicaset}/{position}", a.repair(kv.RepairPurge))
	a.handle("GET /v1/pipeline", a.getPipeline)
	a.handle("PUT /v1/pipeline", a.putPipeline)
	a.handle("POST /v1/tokens", a.createToken)
	a.handle("GET /v1/tokens", a.listTokens)
	a.handle("DELETE /v1/tokens/{id}", a.revokeToken)
	a.handle("GET /v1/roles", a.listRoles)
	a.handle("GET /v1/roles/{name}", a.getRole)
	a.handle("PUT /v1/roles/{name}", a.putRole)
	a.handle("DELETE /v1/roles/{name}", a.deleteRole)
	a.handle("GET /healthz", a.healthz)
	a.handle("GET /readyz", a.readyz)
	a.routes = append(a.routes, "GET /metrics")
	a.mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{
		ErrorLog:      promLogger{a.log},
		ErrorHandling: promhttp.ContinueOnError,
	}))
	return a
}

// registerCollector registers c, or returns the collector registered before it
// under the same name (a second API on one registry shares the metrics).
func registerCollector[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if prev, ok := are.ExistingCollector.(C); ok {
				return prev
			}
		}
		panic(fmt.Sprintf("live: registering an API metric: %v", err))
	}
	return c
}

type api struct {
	b        Backend
	opts     APIOptions
	log      *slog.Logger
	mux      *http.ServeMux
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	models   models
	schemas  schemaCache
	pipes    pipelineCache
	routes   []string // the patterns registered, for the tests
}

// routeUnmatched is the route label of a request no pattern matched.
const routeUnmatched = "unmatched"

// quietRoutes are polled by machines: their access log is at debug level.
var quietRoutes = []string{"GET /healthz", "GET /readyz", "GET /metrics"}

// ServeHTTP admits the request (auth.go), routes it, then logs and
// counts it. A panicking handler is logged with its stack and answered
// 500 (if it wrote nothing yet): one bad request must not take the node
// down.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	route := routeUnmatched
	defer func() {
		p := recover()
		if p != nil && p != http.ErrAbortHandler {
			a.log.Error("http: handler panicked", "method", r.Method, "path", r.URL.EscapedPath(),
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if !sw.wrote {
				respond(sw, http.StatusInternalServerError, ErrorBody{Error: "internal error: the request handler failed (logged)"})
			}
		}
		status := sw.status
		if !sw.wrote {
			status = http.StatusOK
		}
		took := time.Since(start)
		a.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
		a.latency.WithLabelValues(route).Observe(took.Seconds())
		level := slog.LevelInfo
		if slices.Contains(quietRoutes, route) {
			level = slog.LevelDebug
		}
		a.log.LogAttrs(r.Context(), level, "http request",
			slog.String("method", r.Method), slog.String("path", r.URL.EscapedPath()), slog.String("route", route),
			slog.Int("status", status), slog.Duration("duration", took), slog.Int64("bytes", sw.bytes),
			slog.String("remote", r.RemoteAddr))
		if p == http.ErrAbortHandler {
			panic(p)
		}
	}()

	p := r.URL.EscapedPath()
	if clean := canonicalPath(p); p != clean {
		// ServeMux would redirect to the cleaned path, which names another
		// key: a client following the redirect would read or write that.
		if _, ok := a.admit(sw, r, ""); !ok {
			return
		}
		respondError(sw, http.StatusBadRequest, fmt.Sprintf("path %q: has an empty, \".\" or \"..\" segment; a key holding \"/\" must send it as %%2F, a key \".\" or \"..\" its dots as %%2E", p))
		return
	}
	routed := r
	if seg, rest, ok := keySegment(p); ok && seg == "/" {
		// ServeMux takes a segment that decodes to "/" for a trailing
		// slash, and matches no pattern with it: the key "/" is routed
		// as a stand-in and served from the context.
		u := *r.URL
		restPath, _ := url.PathUnescape(rest) // its segments decoded when the request was parsed
		u.Path, u.RawPath = "/v1/kv/_"+restPath, "/v1/kv/_"+rest
		routed = r.WithContext(context.WithValue(r.Context(), slashKey{}, true))
		routed.URL = &u
	} else if typ, key, rest, ok := dataKeySegment(p); ok && key == "/" {
		// The same for an object whose key is "/".
		u := *r.URL
		typPath, _ := url.PathUnescape(typ)
		restPath, _ := url.PathUnescape(rest)
		u.Path, u.RawPath = "/v1/data/"+typPath+"/_"+restPath, "/v1/data/"+typ+"/_"+rest
		routed = r.WithContext(context.WithValue(r.Context(), slashKey{}, true))
		routed.URL = &u
	}
	h, pattern := a.mux.Handler(routed)
	if pattern != "" {
		route = pattern
	}
	routed, ok := a.admit(sw, routed, pattern)
	if !ok {
		return
	}
	if pattern == "" {
		a.unmatched(sw, r, h)
		return
	}
	a.mux.ServeHTTP(sw, routed)
}

// slashKey marks a request for the key "/" in its context.
type slashKey struct{}

// keySegment splits an escaped path under /v1/kv/ into the key, decoded,
// and the escaped rest after it.
func keySegment(p string) (key, rest string, ok bool) {
	tail, ok := strings.CutPrefix(p, "/v1/kv/")
	if !ok {
		return "", "", false
	}
	seg := tail
	if i := strings.IndexByte(tail, '/'); i >= 0 {
		seg, rest = tail[:i], tail[i:]
	}
	key, err := url.PathUnescape(seg)
	return key, rest, err == nil
}

// dataKeySegment splits an escaped path /v1/data/{type}/{key}... into the
// type, escaped, the key, decoded, and the escaped rest after it.
func dataKeySegment(p string) (typ, key, rest string, ok bool) {
	tail, ok := strings.CutPrefix(p, "/v1/data/")
	if !ok {
		return "", "", "", false
	}
	typ, seg, ok := strings.Cut(tail, "/")
	if !ok {
		return "", "", "", false
	}
	if i := strings.IndexByte(seg, '/'); i >= 0 {
		seg, rest = seg[:i], seg[i:]
	}
	key, err := url.PathUnescape(seg)
	return typ, key, rest, err == nil
}

// canonicalPath is ServeMux's canonical form of a path.
func canonicalPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// unmatched answers a request no pattern matched: ServeMux's h knows
// whether it is 404 or 405 (and what to Allow); the API says so in JSON.
func (a *api) unmatched(w http.ResponseWriter, r *http.Request, h http.Handler) {
	var c captureWriter
	h.ServeHTTP(&c, r)
	p := r.URL.EscapedPath()
	switch {
	case c.status == http.StatusMethodNotAllowed:
		allow := c.header.Get("Allow")
		w.Header().Set("Allow", allow)
		respondError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: method not allowed (allowed: %s)", r.Method, p, allow))
	case p == "/v1/kv/" || p == "/v1/kv":
		respondError(w, http.StatusBadRequest, keyError(""))
	case strings.HasPrefix(p, "/v1/kv/"), strings.HasPrefix(p, "/v1/data/"):
		respondError(w, http.StatusNotFound, fmt.Sprintf("path %q: no such endpoint (a key holding \"/\" must send it as %%2F)", p))
	default:
		respondError(w, http.StatusNotFound, fmt.Sprintf("path %q: no such endpoint", p))
	}
}

// captureWriter keeps the status and headers of ServeMux's own 404 and 405
// answers, and drops their plain-text bodies.
type captureWriter struct {
	header http.Header
	status int
}

func (c *captureWriter) Header() http.Header {
	if c.header == nil {
		c.header = http.Header{}
	}
	return c.header
}

func (c *captureWriter) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}

func (c *captureWriter) Write(b []byte) (int, error) {
	c.WriteHeader(http.StatusOK)
	return len(b), nil
}

// statusWriter remembers what was answered, for the log and the metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
	bytes  int64
}

func (w *statusWriter) WriteHeader(status int) {
	if !w.wrote {
		w.status, w.wrote = status, true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// promLogger hands promhttp's errors to the API's logger.
type promLogger struct{ log *slog.Logger }

func (l promLogger) Println(v ...any) { l.log.Error("http: /metrics: " + fmt.Sprint(v...)) }

// httpError is an answer other than 2xx. cause, when set, is logged: it
// is what went wrong inside the node.
type httpError struct {
	status int
	body   any
	cause  error
	// retryAfter, in seconds, is sent as Retry-After (429).
	retryAfter int
}

func (e *httpError) Error() string { return fmt.Sprintf("%d %v", e.status, e.body) }

func apiErrorf(status int, format string, args ...any) *httpError {
	return &httpError{status: status, body: ErrorBody{Error: fmt.Sprintf(format, args...)}}
}

// handle registers a handler that answers an error by returning it.
func (a *api) handle(pattern string, h func(w http.ResponseWriter, r *http.Request) error) {
	a.routes = append(a.routes, pattern)
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var he *httpError
		if !errors.As(err, &he) {
			he = &httpError{status: http.StatusInternalServerError, body: ErrorBody{Error: "internal error: " + err.Error()}, cause: err}
		}
		if he.cause != nil {
			a.log.Error("http: request failed", "method", r.Method, "path", r.URL.EscapedPath(), "status", he.status, "error", he.cause)
		}
		switch {
		case he.retryAfter > 0:
			w.Header().Set("Retry-After", strconv.Itoa(he.retryAfter))
		case he.status == http.StatusServiceUnavailable:
			w.Header().Set("Retry-After", "1")
		}
		respond(w, he.status, he.body)
	})
}

func respond(w http.ResponseWriter, status int, body any) {
	switch e := body.(type) {
	case ErrorBody:
		e.Code = ErrorCode(status)
		body = e
	case MismatchBody:
		e.Code = ErrorCode(status)
		body = e
	case IngestBatchResult:
		if e.Error != "" {
			e.Code = ErrorCode(status)
			body = e
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		// Every body is one of this file's types, which always encode.
		panic(fmt.Sprintf("live: encoding a %T: %v", body, err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func respondError(w http.ResponseWriter, status int, msg string) {
	respond(w, status, ErrorBody{Error: msg})
}

func keyError(key string) string {
	return fmt.Sprintf("key: must be 1 to %d bytes, got %d", MaxKeyLen, len(key))
}

// KeyPath is the path of key's endpoint, /v1/kv/ and the key escaped as
// one path segment: "/" as %2F, and the dots of "." and ".." as %2E, which
// would otherwise be path steps.
func KeyPath(key string) string {
	seg := url.PathEscape(key)
	if seg == "." || seg == ".." {
		seg = strings.ReplaceAll(seg, ".", "%2E")
	}
	return "/v1/kv/" + seg
}

// pathKey is the request's key, percent-decoded by ServeMux.
func pathKey(r *http.Request) (string, error) {
	key := r.PathValue("key")
	if r.Context().Value(slashKey{}) != nil {
		key = "/"
	}
	if len(key) == 0 || len(key) > MaxKeyLen {
		return "", apiErrorf(http.StatusBadRequest, "%s", keyError(key))
	}
	return key, nil
}

func (a *api) context(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), a.opts.Timeout)
}

// do runs req through the backend and turns its failures into answers.
func (a *api) do(r *http.Request, req kv.Request) (kv.Response, error) {
	op := req.Op
	ctx, cancel := a.context(r)
	defer cancel()
	resp, err := a.b.Do(ctx, req)
	if err != nil {
		return resp, backendError(err)
	}
	switch resp.Status {
	case kv.StatusOK, kv.StatusMismatch:
		if resp.Status == kv.StatusMismatch && op != kv.OpCAS {
			return resp, fmt.Errorf("the backend answered a %s with %s", op, resp.Status)
		}
		return resp, nil
	case kv.StatusRedirect:
		// The runtime should have forwarded it. A redirect did nothing, so
		// the client may retry: unavailable rather than internal.
		e := apiErrorf(http.StatusServiceUnavailable, "%s (this node could not forward the request: leader %q, hint %q)", ErrUnavailable, resp.Leader, resp.Hint)
		e.cause = fmt.Errorf("the backend answered a %s with a redirect (leader %q, hint %q)", op, resp.Leader, resp.Hint)
		return resp, e
	}
	return resp, fmt.Errorf("the backend answered a %s with %s", op, resp.Status)
}

// backendError is the answer to an error of the backend.
func backendError(err error) error {
	switch {
	case errors.Is(err, ErrUnknownOutcome):
		return apiErrorf(http.StatusGatewayTimeout, "%s", err)
	case errors.Is(err, ErrUnavailable):
		// Even when it wraps the context's end: nothing was done.
		return apiErrorf(http.StatusServiceUnavailable, "%s", err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return apiErrorf(http.StatusGatewayTimeout, "%s (%s)", ErrUnknownOutcome, err)
	}
	return err
}

func (a *api) put(w http.ResponseWriter, r *http.Request) error {
	key, err := pathKey(r)
	if err != nil {
		return err
	}
	fields := map[string]*jsonField{"value": {}}
	if err := a.readBody(w, r, fields); err != nil {
		return err
	}
	value, err := fields["value"].string("value")
	if err != nil {
		return err
	}
	resp, err := a.do(r, kv.Request{Op: kv.OpPut, Key: key, Value: value})
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, KVResult{Key: key, Value: &value, Index: resp.Index})
	return nil
}

// The read consistencies of GET /v1/kv/{key}?consistency=..., also the
// value of the ConsistencyHeader that says which one answered.
const (
	// ConsistencyLinearizable, the default: the key's leader answers
	// after a ReadIndex round, so the read sees every write acknowledged
	// before it began.
	ConsistencyLinearizable = "linearizable"
	// ConsistencyStale: a member of the key's replicaset answers from its
	// own state machine, without asking the others. Faster, and served
	// inside a minority, but it may miss acknowledged writes.
	ConsistencyStale = "stale"
	// ConsistencyHeader names the consistency of a read's answer.
	ConsistencyHeader = "Shoal-Consistency"
)

// staleRead reads a GET's consistency parameter.
func staleRead(r *http.Request) (bool, error) {
	values, ok := r.URL.Query()["consistency"]
	if !ok {
		return false, nil
	}
	if len(values) != 1 {
		return false, apiErrorf(http.StatusBadRequest, "consistency: given %d times, want once", len(values))
	}
	switch values[0] {
	case ConsistencyLinearizable:
		return false, nil
	case ConsistencyStale:
		return true, nil
	}
	return false, apiErrorf(http.StatusBadRequest, "consistency %q: want %s or %s", values[0], ConsistencyLinearizable, ConsistencyStale)
}

// setConsistency says in a read's answer which consistency served it.
func setConsistency(w http.ResponseWriter, stale bool) {
	consistency := ConsistencyLinearizable
	if stale {
		consistency = ConsistencyStale
	}
	w.Header().Set(ConsistencyHeader, consistency)
}

func (a *api) get(w http.ResponseWriter, r *http.Request) error {
	key, err := pathKey(r)
	if err != nil {
		return err
	}
	stale, err := staleRead(r)
	if err != nil {
		return err
	}
	resp, err := a.do(r, kv.Request{Op: kv.OpGet, Key: key, Stale: stale})
	if err != nil {
		return err
	}
	setConsistency(w, stale)
	if !resp.Value.Present {
		respond(w, http.StatusNotFound, ErrorBody{Error: "key not found", Key: key, Index: resp.Index})
		return nil
	}
	respond(w, http.StatusOK, KVResult{Key: key, Value: &resp.Value.S, Index: resp.Index})
	return nil
}

func (a *api) delete(w http.ResponseWriter, r *http.Request) error {
	key, err := pathKey(r)
	if err != nil {
		return err
	}
	resp, err := a.do(r, kv.Request{Op: kv.OpDelete, Key: key})
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, KVResult{Key: key, Index: resp.Index})
	return nil
}

func (a *api) cas(w http.ResponseWriter, r *http.Request) error {
	key, err := pathKey(r)
	if err != nil {
		return err
	}
	fields := map[string]*jsonField{"expected": {}, "value": {}}
	if err := a.readBody(w, r, fields); err != nil {
		return err
	}
	expected, err := fields["expected"].optString("expected")
	if err != nil {
		return err
	}
	value, err := fields["value"].string("value")
	if err != nil {
		return err
	}
	resp, err := a.do(r, kv.Request{Op: kv.OpCAS, Key: key, Value: value, Expected: expected})
	if err != nil {
		return err
	}
	if resp.Status == kv.StatusMismatch {
		body := MismatchBody{Error: "cas: the key holds another value", Key: key, Index: resp.Index}
		if resp.Value.Present {
			body.Current = &resp.Value.S
		} else {
			body.Error = "cas: the key is absent"
		}
		respond(w, http.StatusConflict, body)
		return nil
	}
	respond(w, http.StatusOK, KVResult{Key: key, Value: &value, Index: resp.Index})
	return nil
}

func (a *api) cluster(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := a.context(r)
	defer cancel()
	st, err := a.b.Cluster(ctx)
	if err != nil {
		return backendError(err)
	}
	respond(w, http.StatusOK, st)
	return nil
}

func (a *api) healthz(w http.ResponseWriter, r *http.Request) error {
	respond(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (a *api) readyz(w http.ResponseWriter, r *http.Request) error {
	ready, why := a.b.Ready()
	if !ready {
		if why == "" {
			why = "the node gave no reason"
		}
		return apiErrorf(http.StatusServiceUnavailable, "not ready: %s", why)
	}
	respond(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

// readBody reads a JSON object with the given fields. The Content-Type,
// when there is one, must be JSON, or what curl -d and a bare text body
// send (the body is read as JSON all the same, so that the first command
// a newcomer types works); the body must fit in MaxBody.
func (a *api) readBody(w http.ResponseWriter, r *http.Request, fields map[string]*jsonField) error {
	body, err := a.readRaw(w, r, "application/json", "application/x-www-form-urlencoded", "text/plain")
	if err != nil {
		return err
	}
	if err := decodeObject(body, fields); err != nil {
		return apiErrorf(http.StatusBadRequest, "request body: %s", err)
	}
	return nil
}

// readRaw reads a body within MaxBody. Its Content-Type, when it has one,
// must be one of types (where application/json is, any +json type too).
func (a *api) readRaw(w http.ResponseWriter, r *http.Request, types ...string) ([]byte, error) {
	return a.readLimited(w, r, a.opts.MaxBody, types...)
}

// readLimited is readRaw with a limit of its own.
func (a *api) readLimited(w http.ResponseWriter, r *http.Request, limit int64, types ...string) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		jsonish := slices.Contains(types, "application/json") && strings.HasSuffix(mt, "+json")
		if err != nil || !slices.Contains(types, mt) && !jsonish {
			return nil, apiErrorf(http.StatusUnsupportedMediaType, "Content-Type %q: want %s", ct, types[0])
		}
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit)); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, apiErrorf(http.StatusRequestEntityTooLarge, "request body exceeds %d bytes", tooBig.Limit)
		}
		return nil, apiErrorf(http.StatusBadRequest, "request body: %v", err)
	}
	return buf.Bytes(), nil
}

// jsonField is one field of a request body, once decodeObject has read it:
// its raw value and the offset where the value starts.
type jsonField struct {
	raw  json.RawMessage
	body []byte
	off  int
	set  bool
}

// string is the field's value, which must be a string.
func (f *jsonField) string(name string) (string, error) {
	if !f.set {
		return "", apiErrorf(http.StatusBadRequest, "request body: %q is required", name)
	}
	var s string
	if f.raw[0] != '"' || json.Unmarshal(f.raw, &s) != nil {
		return "", apiErrorf(http.StatusBadRequest, "request body: %s: %q must be a string, got %s", bodyPosition(f.body, f.off), name, jsonKind(f.raw))
	}
	return s, nil
}

// optString is the field's value, a string or null (absent); the field
// itself must be there, so that a forgotten field does not mean absent.
func (f *jsonField) optString(name string) (kv.Value, error) {
	if !f.set {
		return kv.None, apiErrorf(http.StatusBadRequest, "request body: %q is required (null if the key must be absent)", name)
	}
	if string(f.raw) == "null" {
		return kv.None, nil
	}
	var s string
	if f.raw[0] != '"' || json.Unmarshal(f.raw, &s) != nil {
		return kv.None, apiErrorf(http.StatusBadRequest, "request body: %s: %q must be a string or null, got %s", bodyPosition(f.body, f.off), name, jsonKind(f.raw))
	}
	return kv.Some(s), nil
}

// utf8Error says where body stops being UTF-8, if it does.
func utf8Error(body []byte) error {
	if utf8.Valid(body) {
		return nil
	}
	off := 0
	for off < len(body) {
		r, n := utf8.DecodeRune(body[off:])
		if r == utf8.RuneError && n == 1 {
			break
		}
		off += n
	}
	return fmt.Errorf("%s: invalid UTF-8", bodyPosition(body, off))
}

// decodeObject reads body, which must be exactly one JSON object whose
// fields are all among fields, each at most once. It is
// json.Decoder.DisallowUnknownFields and more: it refuses duplicate fields
// (which Decode lets the last one win) and trailing data, and its errors
// say where, by line and column.
func decodeObject(body []byte, fields map[string]*jsonField) error {
	start := skipSpace(body, 0, "")
	if start == len(body) {
		return errors.New(`empty: want a JSON object such as {"value": "..."}`)
	}
	if err := utf8Error(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return jsonSyntaxError(body, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("%s: want a JSON object, got %s", bodyPosition(body, start), tokenKind(tok))
	}
	for dec.More() {
		at := skipSpace(body, int(dec.InputOffset()), ",")
		tok, err := dec.Token()
		if err != nil {
			return jsonSyntaxError(body, err)
		}
		name, _ := tok.(string)
		f, ok := fields[name]
		switch {
		case !ok:
			return fmt.Errorf("%s: unknown field %q (want %s)", bodyPosition(body, at), name, fieldNames(fields))
		case f.set:
			return fmt.Errorf("%s: duplicate field %q", bodyPosition(body, at), name)
		}
		at = skipSpace(body, int(dec.InputOffset()), ":")
		if err := dec.Decode(&f.raw); err != nil {
			return jsonSyntaxError(body, err)
		}
		f.body, f.off, f.set = body, at, true
	}
	if _, err := dec.Token(); err != nil {
		return jsonSyntaxError(body, err)
	}
	if end := skipSpace(body, int(dec.InputOffset()), ""); end < len(body) {
		return fmt.Errorf("%s: unexpected data after the JSON object", bodyPosition(body, end))
	}
	return nil
}

// skipSpace skips JSON whitespace and the separators in seps from off.
func skipSpace(body []byte, off int, seps string) int {
	for off < len(body) && (strings.IndexByte(" \t\r\n", body[off]) >= 0 || strings.IndexByte(seps, body[off]) >= 0) {
		off++
	}
	return off
}

// jsonSyntaxError says where body stops being JSON. The offsets of
// json.Decoder's errors in the middle of a token stream are not always
// from the start of the input, so the body is read again from its start by
// a fresh decoder, which meets the same first error at an exact offset.
func jsonSyntaxError(body []byte, err error) error {
	var raw json.RawMessage
	if again := json.NewDecoder(bytes.NewReader(body)).Decode(&raw); again != nil {
		err = again
	}
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("%s: %s", bodyPosition(body, max(int(se.Offset)-1, 0)), se)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("%s: unexpected end of the JSON object", bodyPosition(body, len(body)))
	}
	return err
}

// bodyPosition names a byte offset of body as "line L, column C", counting
// characters from 1.
func bodyPosition(body []byte, off int) string {
	off = min(off, len(body))
	line := 1 + bytes.Count(body[:off], []byte{'\n'})
	lineStart := bytes.LastIndexByte(body[:off], '\n') + 1
	return fmt.Sprintf("line %d, column %d", line, 1+utf8.RuneCount(body[lineStart:off]))
}

func fieldNames(fields map[string]*jsonField) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, strconv.Quote(name))
	}
	slices.Sort(names)
	return strings.Join(names, " and ")
}

func tokenKind(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			return "an array"
		}
		return string(t)
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return strconv.FormatBool(t)
	}
	return "null"
}

func jsonKind(raw json.RawMessage) string {
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't':
		return "true"
	case 'f':
		return "false"
	case 'n':
		return "null"
	}
	return "a number"
}
