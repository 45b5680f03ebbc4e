// Package kvclient is the key-value client of a live run: it drives a
// real shoal cluster through its instances' HTTP API (core/live/api.go)
// and records every operation as the simulator's client does
// (simnet/client): client.invoke, then client.ok, client.fail or
// client.info, with the same fields in the same order, so that
// checker.FromTrace reads the same history from either. Besides keys and
// objects it hands connector messages to the inbound queue (POST
// /v1/ingest/{connector}), reads repair queues (GET /v1/repair) and
// objects' histories, recorded with client.QueueHistoryFields and
// client.ObjectHistoryFields as the simulator records them, for
// checker.Delivery.
//
// A completion never guesses. An operation is ok only when the API said
// so (200, a message's 202, or a read's 404 naming the key as absent); it
// failed only when it certainly had no effect (a cas that found another
// value, a refusal, a full queue, or a read that got no answer); whenever
// a write may have taken effect it is info, and the client continues
// under a new process number. A cas that was refused for any reason but
// a mismatch is info too: in a history, a failed cas says that its
// compare failed.
package kvclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/live"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/simnet/client"
)

// Recorder receives trace events from many goroutines at once and stamps
// them with the time it receives them. Implementations must be safe for
// concurrent use. Note may keep fields: the client never reuses them.
type Recorder interface {
	Note(node env.NodeID, kind string, fields ...env.Field)
}

// Config shapes one client.
type Config struct {
	// Name is the client's node in the trace: "c1", "c2", ...; the final
	// readers are "final", "final-nK" (objects) and "final-ingestK".
	Name env.NodeID
	// Servers maps each instance's name to its API's base URL
	// ("http://127.0.0.1:PORT"). It must not be empty.
	Servers map[env.NodeID]string
	// Target is where an operation's first attempt goes: "random" (the
	// default), "leader" (Leader's answer, else random) or an instance's
	// name. Attempts after a refusal go to a server chosen again: the
	// leader as Leader then says, else one drawn at random.
	Target string
	// Leader is the data leader as the harness last saw it; nil or false
	// when unknown.
	Leader func() (env.NodeID, bool)
	// Timeout bounds an operation over all its attempts (DefaultTimeout
	// if zero).
	Timeout time.Duration
	// Retries is how many more attempts an operation makes after a
	// definite refusal: a 503, or no connection (so nothing was sent).
	// Zero or negative: none.
	Retries int
	// Interval is the time between the starts of consecutive operations;
	// one is outstanding at a time, and one that is due while the
	// previous runs starts as soon as that ends. Zero: back to back.
	Interval time.Duration
	// Until, if set, is the wall-clock time at or after which no
	// operation starts.
	Until time.Time
	// Seed drives the workload's choices and the choice of servers, each
	// from its own PCG stream, so that the operations drawn do not depend
	// on how the cluster answered.
	Seed uint64
	// Process is the client's first process number; after an info the
	// client continues as Process+ProcessStride (stride 1 if not
	// positive), and so on.
	Process, ProcessStride int
	// Recorder receives the history. It is required.
	Recorder Recorder
	// HTTP sends the requests; nil gives each Run a client of its own
	// with sane transport limits. Redirects are never followed.
	HTTP *http.Client
	// Token, if set, is the API token every request carries
	// (Authorization: Bearer TOKEN).
	Token string
	// Logger, if set, receives a warning for every answer outside the
	// API's contract (Stats.Bad).
	Logger *slog.Logger
	// GraphQL, if set, sends object operations through POST /v1/graphql
	// (graphql.go has how), built from this model, the cluster's, which
	// must not change during the run; stale reads and history reads
	// still go through REST.
	GraphQL *model.Model
}

// Stats counts operations by outcome: OK+Fail+Info is every operation
// invoked. Bad counts those among them whose last answer broke the
// contract between this client and the API: a 4xx other than a cas
// mismatch, an absent key or a full queue (the client sent something the
// API refuses), a status the API never sends, or a body it would not
// write. They mean a bug in the harness or the node, and the caller
// should say so.
type Stats struct{ OK, Fail, Info, Bad int }

// DefaultTimeout is the timeout of an operation when Config leaves it
// zero: the simulator's client's.
const DefaultTimeout = client.DefaultTimeout

// Limits on what the client reads from a server.
const (
	// maxAnswer bounds an answer's body: the API's largest value,
	// JSON-escaped, with room to spare.
	maxAnswer = 8 << 20
	// maxQuoted bounds how much of a server's error a note repeats.
	maxQuoted = 200
)

// Run runs one client until Until, until ctx ends, or until work has no
// more operations, and returns its counts. Every operation it invokes has
// its outcome recorded before Run returns; one that ctx interrupts is
// recorded as if its timeout had passed. It panics on a Config no run
// could use: no Recorder, no Servers, a server whose base URL is not
// http:// or https://, or a Target naming no server.
func Run(ctx context.Context, cfg Config, work client.Workload) Stats {
	c := newClient(cfg)
	defer c.close()
	due := time.Now()
	for c.wait(ctx, due) {
		if !cfg.Until.IsZero() && !time.Now().Before(cfg.Until) {
			break
		}
		op, ok := work.Next(c.workRand)
		if !ok {
			break
		}
		c.do(ctx, op)
		due = due.Add(c.cfg.Interval)
		if now := time.Now(); due.Before(now) {
			due = now
		}
	}
	return c.stats
}

// kvClient is one running client.
type kvClient struct {
	cfg        Config
	http       *http.Client
	own        *http.Transport // closed at the end, when the client made it
	traced     bool            // the transport is net/http's, which reports its connections
	servers    []env.NodeID    // sorted, for draws that depend on the seed only
	workRand   *rand.Rand
	serverRand *rand.Rand
	log        *slog.Logger
	process    int
	seq        int64
	stats      Stats
}

func newClient(cfg Config) *kvClient {
	if cfg.Recorder == nil {
		panic("kvclient: Config.Recorder is nil")
	}
	if len(cfg.Servers) == 0 {
		panic("kvclient: Config.Servers is empty")
	}
	switch cfg.Target {
	case "":
		cfg.Target = "random"
	case "random", "leader":
	default:
		if _, ok := cfg.Servers[env.NodeID(cfg.Target)]; !ok {
			panic(fmt.Sprintf("kvclient: target %q is not among the servers", cfg.Target))
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	cfg.Retries = max(cfg.Retries, 0)
	cfg.Interval = max(cfg.Interval, 0)
	if cfg.ProcessStride <= 0 {
		cfg.ProcessStride = 1
	}
	c := &kvClient{
		cfg:        cfg,
		workRand:   rand.New(rand.NewPCG(cfg.Seed, 1)),
		serverRand: rand.New(rand.NewPCG(cfg.Seed, 2)),
		log:        cfg.Logger,
		process:    cfg.Process,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	for name, base := range cfg.Servers {
		if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			panic(fmt.Sprintf("kvclient: server %s: %q is not an http:// or https:// base URL", name, base))
		}
		c.servers = append(c.servers, name)
	}
	slices.Sort(c.servers)
	hc := cfg.HTTP
	if hc == nil {
		c.own = newTransport()
		hc = &http.Client{Transport: c.own}
	}
	switch hc.Transport.(type) {
	case nil, *http.Transport:
		c.traced = true
	}
	// A redirect would send the request again, perhaps for another key:
	// the API never redirects, so one is an answer outside its contract.
	own := *hc
	own.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.http = &own
	return c
}

// newTransport is the transport of a client that was given none: plain
// HTTP/1.1 to loopback, a few idle connections kept for reuse, no proxy.
func newTransport() *http.Transport {
	return &http.Transport{
		DialContext:            (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        30 * time.Second,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
	}
}

func (c *kvClient) close() {
	if c.own != nil {
		c.own.CloseIdleConnections()
	}
}

// wait waits until due, and reports whether an operation may start then.
func (c *kvClient) wait(ctx context.Context, due time.Time) bool {
	if !c.cfg.Until.IsZero() && !due.Before(c.cfg.Until) {
		return false
	}
	d := time.Until(due)
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// operation is the operation in flight.
type operation struct {
	client.Op
	seq int64
}

// outcome is what one attempt tells of an operation.
type outcome uint8

const (
	done     outcome = iota + 1 // it took effect; a read read value
	mismatch                    // a cas found value instead of its expected one
	refused                     // it certainly had no effect
	unknown                     // it may or may not take effect
)

// answer is the result of one attempt.
type answer struct {
	outcome outcome
	server  env.NodeID
	value   kv.Value         // done read: the value read; mismatch: the value found
	index   uint64           // done, mismatch: the Raft index that served it
	object  *kv.ObjectRecord // done get-object: the object read (nil: none); put-object: its revision
	history int              // done get-object with its history: the previous versions kept
	queue   *kv.QueueState   // done enqueue: where the message waits; read-queue: the queue read
	retry   bool             // refused: another server may accept it
	busy    bool             // refused: the queue was full
	bad     bool             // the answer broke the API's contract
	why     string           // refused, unknown
}

// do runs one operation: its invoke, its attempts and its completion.
func (c *kvClient) do(ctx context.Context, op client.Op) {
	c.seq++
	o := &operation{Op: op, seq: c.seq}
	c.record("client.invoke", o, answer{}, 0, "")
	octx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var a answer
	for attempt := 1; ; attempt++ {
		a = c.attempt(octx, c.choose(attempt), op)
		if a.outcome != refused || !a.retry || attempt > c.cfg.Retries || octx.Err() != nil {
			switch {
			case a.outcome != refused || attempt == 1:
			case a.busy:
				// The note begins "busy", as the simulator's does, for
				// checker.Delivery's count.
				a.why += fmt.Sprintf(" (on attempt %d)", attempt)
			default:
				a.why = fmt.Sprintf("refused %d times; last, %s", attempt, a.why)
			}
			break
		}
	}
	if a.bad {
		c.stats.Bad++
		c.log.Warn("kvclient: an answer outside the API's contract", "client", string(c.cfg.Name), "server", string(a.server),
			"op", client.HistoryF(op.F), "key", op.Key, "why", a.why)
	}
	c.finish(o, a)
}

// choose picks the server of an operation's attempt (from 1).
func (c *kvClient) choose(attempt int) env.NodeID {
	switch c.cfg.Target {
	case "random":
	case "leader":
		if c.cfg.Leader != nil {
			if l, ok := c.cfg.Leader(); ok {
				if _, known := c.cfg.Servers[l]; known {
					return l
				}
			}
		}
	default:
		if attempt == 1 {
			return env.NodeID(c.cfg.Target)
		}
	}
	return c.servers[c.serverRand.IntN(len(c.servers))]
}

// attempt sends op to server once and judges the answer.
func (c *kvClient) attempt(ctx context.Context, server env.NodeID, op client.Op) answer {
	graphql := c.viaGraphQL(op)
	var req *http.Request
	var err error
	if graphql {
		req, err = graphqlRequest(ctx, c.cfg.Servers[server], c.cfg.GraphQL, op)
	} else {
		req, err = request(ctx, c.cfg.Servers[server], op)
	}
	if err != nil {
		return answer{outcome: refused, server: server, bad: true, why: fmt.Sprintf("%s: not sent: %v", server, err)}
	}
	if c.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	// Until the transport has a connection for it, nothing of the request
	// can have left this process.
	var connected atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { connected.Store(true) },
	}))
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if c.sentNothing(err, connected.Load()) {
			return answer{outcome: refused, server: server, retry: true, why: fmt.Sprintf("%s: no connection: %v", server, err)}
		}
		return answer{outcome: unknown, server: server, why: fmt.Sprintf("%s: %s", server, c.lost(ctx, err))}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		err = errors.New(c.lost(ctx, err))
	}
	return judge(server, op, resp.StatusCode, body, err, graphql)
}

// sentNothing reports whether a request that failed with err certainly
// never left this process: it failed to dial, or net/http's transport,
// which reports every connection it hands a request, handed it none. A
// transport of another kind may not report its connections.
func (c *kvClient) sentNothing(err error, connected bool) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return !connected && c.traced
}

// lost says why an attempt that may have been sent got no whole answer.
func (c *kvClient) lost(ctx context.Context, err error) string {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Sprintf("no answer within the timeout of %s", c.cfg.Timeout)
	case ctx.Err() != nil:
		return "the run was stopped before an answer came"
	}
	return fmt.Sprintf("the connection failed after the request may have been sent: %v", err)
}

// request builds op's request to the API at base.
func request(ctx context.Context, base string, op client.Op) (*http.Request, error) {
	switch {
	case op.Message != nil:
		return enqueueRequest(ctx, base, op)
	case op.Queue != nil:
		return queueRequest(ctx, base, op)
	case op.Object != nil:
		return objectRequest(ctx, base, op)
	}
	if !utf8.ValidString(op.Key) || !utf8.ValidString(op.Value) || !utf8.ValidString(op.Expected.S) {
		return nil, errors.New("the key or a value is not UTF-8, which the API's JSON cannot carry")
	}
	u := strings.TrimSuffix(base, "/") + live.KeyPath(op.Key)
	var method string
	var body any
	switch op.F {
	case kv.OpGet:
		method = http.MethodGet
		if op.Stale {
			u += "?consistency=" + live.ConsistencyStale
		}
	case kv.OpPut:
		method, body = http.MethodPut, struct {
			Value string `json:"value"`
		}{op.Value}
	case kv.OpDelete:
		method = http.MethodDelete
	case kv.OpCAS:
		var expected *string
		if op.Expected.Present {
			expected = &op.Expected.S
		}
		method, u, body = http.MethodPost, u+"/cas", struct {
			Expected *string `json:"expected"`
			Value    string  `json:"value"`
		}{expected, op.Value}
	default:
		return nil, fmt.Errorf("unknown operation %v", op.F)
	}
	if body == nil {
		return http.NewRequestWithContext(ctx, method, u, nil)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// judge reads the API's answer to op: its status, its body, and the error
// that cut the body short, if one did; graphql says it was sent through
// GraphQL.
func judge(server env.NodeID, op client.Op, status int, body []byte, readErr error, graphql bool) answer {
	a := answer{server: server}
	says := fmt.Sprintf("%s answered %d", server, status)
	if msg := errorText(body); msg != "" {
		says += ": " + msg
	}
	switch {
	case status == http.StatusServiceUnavailable:
		// Whatever became of the body, the status says nothing was done.
		a.outcome, a.retry, a.why = refused, true, says
		return a
	case readErr != nil:
		a.outcome, a.why = unknown, fmt.Sprintf("%s answered %d, but its body was cut short: %v", server, status, readErr)
		return a
	case len(body) > maxAnswer:
		a.outcome, a.bad, a.why = unknown, true, fmt.Sprintf("%s answered %d with a body over %d bytes", server, status, maxAnswer)
		return a
	case graphql:
		return judgeGraphQL(a, says, op, status, body)
	case op.Message != nil:
		return judgeEnqueue(a, says, op, status, body)
	case op.Queue != nil:
		return judgeQueue(a, says, op, status, body)
	case op.Object != nil && op.Object.History:
		return judgeHistory(a, says, op, status, body)
	case op.Object != nil:
		return judgeObject(a, says, op, status, body)
	}
	switch {
	case status == http.StatusOK:
		var r live.KVResult
		err := json.Unmarshal(body, &r)
		switch {
		case err != nil:
			a.why = fmt.Sprintf("%s answered 200 with a body that is not a result: %v", server, err)
		case r.Key != op.Key:
			a.why = fmt.Sprintf("%s answered 200 for key %q, not %q", server, r.Key, op.Key)
		case op.F == kv.OpGet && r.Value == nil:
			a.why = fmt.Sprintf("%s answered 200 to a read without a value", server)
		case (op.F == kv.OpPut || op.F == kv.OpCAS) && (r.Value == nil || *r.Value != op.Value):
			a.why = fmt.Sprintf("%s answered 200 to a %s of %q with another value", server, client.HistoryF(op.F), op.Value)
		case op.F == kv.OpGet:
			a.outcome, a.value, a.index = done, kv.Some(*r.Value), r.Index
			return a
		default:
			a.outcome, a.index = done, r.Index
			return a
		}
		a.outcome, a.bad = unknown, true
	case status == http.StatusNotFound && op.F == kv.OpGet:
		// A read of an absent key names the key; any other 404 does not.
		var r live.ErrorBody
		if json.Unmarshal(body, &r) == nil && r.Key != "" && r.Key == op.Key {
			a.outcome, a.value, a.index = done, kv.None, r.Index
			return a
		}
		a.outcome, a.bad, a.why = refused, true, says
	case status == http.StatusConflict && op.F == kv.OpCAS:
		var r live.MismatchBody
		if json.Unmarshal(body, &r) == nil && r.Key == op.Key {
			a.outcome, a.index = mismatch, r.Index
			if r.Current != nil {
				a.value = kv.Some(*r.Current)
			}
			return a
		}
		a.outcome, a.bad, a.why = unknown, true, says+" (a 409 that does not say what the key holds)"
	default:
		return judgeOther(a, says, status)
	}
	return a
}

// judgeOther judges an answer that no operation expects: a 504 leaves
// the outcome unknown; any other 4xx is a refusal, and anything else
// unknown, both outside the API's contract with this client.
func judgeOther(a answer, says string, status int) answer {
	switch {
	case status == http.StatusGatewayTimeout:
		a.outcome, a.why = unknown, says
	case 400 <= status && status < 500:
		a.outcome, a.bad, a.why = refused, true, says
	default:
		a.outcome, a.bad, a.why = unknown, true, says
	}
	return a
}

// errorText is what an error body says: its "error", or the body itself,
// quoted and cut short.
func errorText(body []byte) string {
	var e live.ErrorBody
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return cut(e.Error)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return ""
	}
	return strconv.Quote(cut(string(body)))
}

func cut(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	n := maxQuoted
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// finish records the operation's completion and counts it.
func (c *kvClient) finish(o *operation, a answer) {
	var kind, note string
	var index uint64
	switch {
	case a.outcome == done:
		kind, index, note = "client.ok", a.index, string(a.server)
	case a.outcome == mismatch:
		kind, index, note = "client.fail", a.index, "cas found "+a.value.String()
	case o.F.IsRead():
		kind, note = "client.fail", a.why
		if a.outcome == unknown {
			note += "; a read changes nothing"
		}
	case a.outcome == refused && o.F == kv.OpCAS:
		kind, note = "client.info", a.why+"; a failed cas would claim its compare failed"
	case a.outcome == refused:
		kind, note = "client.fail", a.why
	default:
		kind, note = "client.info", a.why
	}
	c.record(kind, o, a, index, note)
	switch kind {
	case "client.ok":
		c.stats.OK++
	case "client.fail":
		c.stats.Fail++
	default:
		c.stats.Info++
		c.process += c.cfg.ProcessStride
	}
}

// record writes one history event, as the simulator's client does; a is
// the answer that ended the operation (a read's value or object is
// recorded only when it was done).
func (c *kvClient) record(kind string, o *operation, a answer, index uint64, note string) {
	if o.Message != nil || o.Queue != nil {
		var q *kv.QueueState
		if a.outcome == done {
			q = a.queue
		}
		c.cfg.Recorder.Note(c.cfg.Name, kind, client.QueueHistoryFields(kind, c.process, o.seq, o.Op, q, index, note)...)
		return
	}
	if o.Object != nil {
		var obj *kv.ObjectRecord
		history := 0
		if a.outcome == done {
			obj, history = a.object, a.history
		}
		fields := client.ObjectHistoryFields(kind, c.process, o.seq, o.Op, obj, index, note)
		if o.Object.History && kind != "client.invoke" {
			fields = append(fields, env.Int("history", int64(history)))
		}
		c.cfg.Recorder.Note(c.cfg.Name, kind, fields...)
		return
	}
	var read kv.Value
	if a.outcome == done {
		read = a.value
	}
	c.cfg.Recorder.Note(c.cfg.Name, kind, client.HistoryFields(kind, c.process, o.seq, o.Op, read, index, note)...)
}

// objectRequest builds an object operation's request: its type and key
// come from the operation's label, "Type/key" (the key as
// model.Type.ParseKey reads it).
func objectRequest(ctx context.Context, base string, op client.Op) (*http.Request, error) {
	typ := op.Object.Type
	key, ok := strings.CutPrefix(op.Label, typ+"/")
	if !ok || !utf8.ValidString(key) {
		return nil, fmt.Errorf("the label %q does not name an object of type %s", op.Label, typ)
	}
	u := strings.TrimSuffix(base, "/") + "/v1/data/" + url.PathEscape(typ)
	keyPath := u + "/" + strings.TrimPrefix(live.KeyPath(key), "/v1/kv/")
	switch op.F {
	case kv.OpPutObject:
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, u+"?version="+strconv.Itoa(op.Object.Version), bytes.NewReader(op.Object.Value))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		return req, nil
	case kv.OpGetObject:
		if op.Object.History {
			keyPath += "/history"
		}
		if op.Stale {
			keyPath += "?consistency=" + live.ConsistencyStale
		}
		return http.NewRequestWithContext(ctx, http.MethodGet, keyPath, nil)
	case kv.OpDeleteObject:
		return http.NewRequestWithContext(ctx, http.MethodDelete, keyPath, nil)
	}
	return nil, fmt.Errorf("unknown object operation %v", op.F)
}

// judgeObject reads the API's answer to an object operation, whose
// status needs no body to judge (a says what was said).
func judgeObject(a answer, says string, op client.Op, status int, body []byte) answer {
	typ := op.Object.Type
	key := strings.TrimPrefix(op.Label, typ+"/")
	switch {
	case status == http.StatusOK:
		var r live.ObjectBody
		err := json.Unmarshal(body, &r)
		switch {
		case err != nil:
			a.why = fmt.Sprintf("%s answered 200 with a body that is not an object's: %v", a.server, err)
		case r.Type != typ || r.Key != key:
			a.why = fmt.Sprintf("%s answered 200 for %s %q, not %s %q", a.server, r.Type, r.Key, typ, key)
		case op.F == kv.OpGetObject && len(r.Object) == 0:
			a.why = fmt.Sprintf("%s answered 200 to a read without the object", a.server)
		default:
			a.outcome = done
			a.object = &kv.ObjectRecord{Type: typ, Version: r.Version, Revision: r.Revision, Value: r.Object}
			return a
		}
		a.outcome, a.bad = unknown, true
	case status == http.StatusNotFound && op.F == kv.OpGetObject:
		// A read of an absent object names it; any other 404 does not.
		if errorText(body) == fmt.Sprintf("%s %s not found", typ, key) {
			a.outcome = done
			return a
		}
		a.outcome, a.bad, a.why = refused, true, says
	case status == http.StatusConflict, status == http.StatusPreconditionFailed:
		// A unique index held by another object, or a condition that
		// did not hold: nothing changed, as the store promises.
		a.outcome, a.why = refused, says
	default:
		return judgeOther(a, says, status)
	}
	return a
}

// judgeHistory reads the API's answer to a read of an object with its
// history (GET /v1/data/{type}/{key}/history): the kept previous
// versions, oldest first, then the object. The answer does not say
// whether its last entry is the object or the last previous version of
// one since deleted; the client takes it for the object, which holds for
// every workload that deletes nothing it reads this way (ingest).
func judgeHistory(a answer, says string, op client.Op, status int, body []byte) answer {
	typ := op.Object.Type
	key := strings.TrimPrefix(op.Label, typ+"/")
	switch status {
	case http.StatusOK:
		var r live.HistoryBody
		err := json.Unmarshal(body, &r)
		switch {
		case err != nil:
			a.why = fmt.Sprintf("%s answered 200 with a body that is not an object's history: %v", a.server, err)
		case r.Type != typ || r.Key != key:
			a.why = fmt.Sprintf("%s answered 200 for %s %q, not %s %q", a.server, r.Type, r.Key, typ, key)
		case len(r.History) == 0 || len(r.History[len(r.History)-1].Object) == 0:
			a.why = fmt.Sprintf("%s answered 200 to a history read without the object", a.server)
		default:
			last := r.History[len(r.History)-1]
			a.outcome, a.history = done, len(r.History)-1
			a.object = &kv.ObjectRecord{Type: typ, Version: last.Version, Revision: last.Revision, Value: last.Object}
			return a
		}
		a.outcome, a.bad = unknown, true
	case http.StatusNotFound:
		// Neither the object nor any history of it; any other 404 says
		// something else.
		if errorText(body) == fmt.Sprintf("%s %s not found, and no history of it is kept", typ, key) {
			a.outcome = done
			return a
		}
		a.outcome, a.bad, a.why = refused, true, says
	default:
		return judgeOther(a, says, status)
	}
	return a
}

// enqueueRequest builds an enqueue's request: the message's payload
// posted to its connector, its id as the idempotency key, its headers as
// they are (each an X- header, as the API passes on), and op.Key as the
// key that picks its replicaset.
func enqueueRequest(ctx context.Context, base string, op client.Op) (*http.Request, error) {
	m := op.Message
	if op.F != kv.OpEnqueue {
		return nil, fmt.Errorf("a message with operation %v", op.F)
	}
	if m.ID == "" || !utf8.ValidString(m.ID) || !utf8.ValidString(op.Key) {
		return nil, errors.New("the message's id or key is empty or not UTF-8")
	}
	u := strings.TrimSuffix(base, "/") + "/v1/ingest/" + url.PathEscape(m.Connector)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(m.Payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(live.HeaderMessageID, m.ID)
	if op.Key != "" {
		req.Header.Set(live.HeaderMessageKey, op.Key)
	}
	for _, h := range m.Headers {
		// Any other name would reach the pipeline under another, or not
		// at all.
		if !strings.HasPrefix(h.Name, live.IngestHeaderPrefix) || http.CanonicalHeaderKey(h.Name) != h.Name {
			return nil, fmt.Errorf("header %q: HTTP carries only canonical %s headers into the pipeline", h.Name, live.IngestHeaderPrefix)
		}
		req.Header.Set(h.Name, h.Value)
	}
	return req, nil
}

// judgeEnqueue reads the API's answer to an enqueue: 202 with where the
// message waits, or 429 when the queue was full and nothing was
// enqueued.
func judgeEnqueue(a answer, says string, op client.Op, status int, body []byte) answer {
	switch status {
	case http.StatusAccepted:
		var r live.IngestResult
		err := json.Unmarshal(body, &r)
		switch {
		case err != nil:
			a.why = fmt.Sprintf("%s answered 202 with a body that is not an ingest result: %v", a.server, err)
		case r.ID != op.Message.ID:
			a.why = fmt.Sprintf("%s answered 202 for message %q, not %q", a.server, r.ID, op.Message.ID)
		case r.Replicaset == "" || r.Position == 0:
			a.why = fmt.Sprintf("%s answered 202 without the message's replicaset and position", a.server)
		default:
			a.outcome, a.queue = done, &kv.QueueState{Replicaset: r.Replicaset, Tail: r.Position}
			return a
		}
		a.outcome, a.bad = unknown, true
	case http.StatusTooManyRequests:
		a.outcome, a.busy, a.why = refused, true, "busy: "+says
	default:
		return judgeOther(a, says, status)
	}
	return a
}

// queueRequest builds a read-queue's request: a page of a replicaset's
// repair queue (GET /v1/repair), or its depths alone (GET /v1/queue,
// which lists every replicaset's). The HTTP API lists no waiting
// messages.
func queueRequest(ctx context.Context, base string, op client.Op) (*http.Request, error) {
	q := op.Queue
	if op.F != kv.OpReadQueue {
		return nil, fmt.Errorf("%s is not sent over HTTP by this client", client.HistoryF(op.F))
	}
	base = strings.TrimSuffix(base, "/")
	switch q.List {
	case "":
		return http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/queue", nil)
	case "repair":
		v := url.Values{}
		if q.Replicaset != "" {
			v.Set("replicaset", q.Replicaset)
		}
		if q.After > 0 {
			v.Set("after", strconv.FormatUint(q.After, 10))
		}
		if q.Limit > 0 {
			v.Set("limit", strconv.Itoa(q.Limit))
		}
		u := base + "/v1/repair"
		if len(v) > 0 {
			u += "?" + v.Encode()
		}
		return http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	}
	return nil, fmt.Errorf("a listing of the %q queue, which the HTTP API does not give", q.List)
}

// judgeQueue reads the API's answer to a read-queue: one replicaset's
// queues (GET /v1/repair), or every replicaset's (GET /v1/queue), of
// which it takes the one asked for.
func judgeQueue(a answer, says string, op client.Op, status int, body []byte) answer {
	if status != http.StatusOK {
		return judgeOther(a, says, status)
	}
	want := op.Queue.Replicaset
	var qs []live.QueueBody
	var err error
	if op.Queue.List == "" {
		err = json.Unmarshal(body, &qs)
	} else {
		var q live.QueueBody
		err = json.Unmarshal(body, &q)
		qs = []live.QueueBody{q}
	}
	if err != nil {
		a.outcome, a.bad, a.why = unknown, true, fmt.Sprintf("%s answered 200 with a body that is not a queue listing: %v", a.server, err)
		return a
	}
	for _, q := range qs {
		if q.Replicaset == want || want == "" && len(qs) == 1 {
			a.outcome, a.queue = done, queueState(q)
			return a
		}
	}
	a.outcome, a.bad, a.why = unknown, true, fmt.Sprintf("%s answered 200 without the queues of %q", a.server, want)
	return a
}

// queueState is a queue listing as the engine answers it, for the
// history (client.QueueStateJSON).
func queueState(b live.QueueBody) *kv.QueueState {
	q := &kv.QueueState{Replicaset: b.Replicaset, Depth: b.Depth, Bytes: b.Bytes, Head: b.Head, Tail: b.Tail,
		Repairs: b.Repairs, Outbound: b.Outbound, Settled: b.Settled}
	if b.OldestAt != nil {
		q.OldestAt = b.OldestAt.UnixNano()
	}
	for _, e := range b.Entries {
		q.Entries = append(q.Entries, kv.RepairEntry{
			Queued:   kv.Queued{Seq: e.Position, Message: kv.Message{ID: e.ID, Connector: e.Connector}, At: e.EnqueuedAt.UnixNano(), Attempts: e.Attempts},
			Failure:  kv.Failure{Key: e.Key, Step: e.Step, Handler: e.Handler, Reason: e.Reason},
			FailedAt: e.FailedAt.UnixNano(),
		})
	}
	return q
}
