package live

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/handler"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/route"
)

// POST /v1/ingest/{connector}: the HTTP inbound connector. The body is one
// JSON object (Content-Type application/json, or none), or a batch of
// them, one per line (application/x-ndjson or application/jsonl). Every
// message is acknowledged (202) once it is durably enqueued.
//
// When the pipeline in force declares inbound connectors, {connector}
// must be one of them of type http, whose max_body and max_items bound the
// request; without a declaration any name is taken, within the defaults.
//
// A connector that declares token_sha256 takes only requests that carry
// one of its tokens, Authorization: Bearer TOKEN, whose SHA-256 digest
// the declaration lists. Without the header, or with one that is not a
// bearer token, the answer is 401 with WWW-Authenticate: Bearer
// realm="shoal-ingest"; with a token it does not list, 403. Either way
// before the Idempotency-Key, the Content-Type or the body is looked at,
// so nothing is read and nothing is enqueued. An instance that cannot
// read the pipeline in force (one written for a newer shoal, say) does
// not know which connectors ask for a token, and answers 503. With API
// authentication on, an API token whose role may write ingest is taken
// by every connector too (auth.go).
//
// A batch is checked whole before anything is enqueued: one bad line
// answers 400 with every bad line's reason, and nothing is enqueued. Its
// messages are named by the Idempotency-Key and their line number
// ("KEY/3"), so a batch sent again is taken once. They go to their
// replicasets concurrently, the messages of one key in line order; a
// full queue stops the batch with 429 and the lines taken so far.

// IngestBatchResult is the body of an NDJSON batch's answer: each line's
// fate, and how many were enqueued.
type IngestBatchResult struct {
	Error    string       `json:"error,omitempty"`
	Code     string       `json:"code,omitempty"` // with Error: ErrorCode of the status
	Enqueued int          `json:"enqueued"`
	Items    []IngestItem `json:"items"`
}

// IngestItem is one line of a batch: where it waits, or why it was not
// taken (Error; for a batch that stopped, lines neither taken nor refused
// have neither).
type IngestItem struct {
	Line       int    `json:"line"`
	ID         string `json:"id,omitempty"`
	Replicaset string `json:"replicaset,omitempty"`
	Position   uint64 `json:"position,omitempty"`
	Error      string `json:"error,omitempty"`
}

// HeaderKeyField names, for a batch, the field of each line whose value
// is its message's key (a dotted path: customer.id); Shoal-Key gives one
// key for every line instead.
const HeaderKeyField = "Shoal-Key-Field"

// maxBatchID bounds a batch's Idempotency-Key: "/" and a line number
// follow it in its messages' ids.
const maxBatchID = kv.MaxMessageID - 8

// batchWorkers bounds the enqueues of one batch in flight at once.
const batchWorkers = 16

// pipelineCache is the pipeline in force, parsed once per revision.
type pipelineCache struct {
	mu  sync.Mutex
	rev int
	p   *handler.Pipeline
	err error // why the revision's source does not parse here
}

// Bearer tokens of the http connectors that declare token_sha256.
const (
	// IngestRealm is the realm of the WWW-Authenticate header of a 401.
	IngestRealm = "shoal-ingest"
	// MaxTokenLen bounds a bearer token, in bytes.
	MaxTokenLen = 1024
)

// token68 is RFC 9110's token68: the syntax of a bearer token.
var token68 = regexp.MustCompile(`^[A-Za-z0-9._~+/-]+=*$`)

// ValidToken reports whether token can be sent as a bearer token to
// POST /v1/ingest: token68 (letters, digits, -._~+/, then any = signs)
// of at most MaxTokenLen bytes.
func ValidToken(token string) bool { return len(token) <= MaxTokenLen && token68.MatchString(token) }

// inbound returns the HTTP connector named name as the pipeline in force
// declares it: the defaults when it declares no inbound connectors (or
// the backend has no pipeline), an error when it declares others.
// changes says it is a connector of type shoal, whose messages are
// changes other clusters replicate (kv.Change).
func (a *api) inbound(ctx context.Context, name string) (spec *connector.HTTPInbound, changes bool, err error) {
	def := &connector.HTTPInbound{MaxBody: connector.DefaultMaxBody, MaxItems: connector.DefaultMaxItems}
	pb, ok := a.b.(PipelineBackend)
	if !ok {
		return def, false, nil
	}
	st, err := pb.Pipeline(ctx)
	if err != nil {
		return nil, false, backendError(err)
	}
	a.pipes.mu.Lock()
	if a.pipes.rev != st.Revision {
		a.pipes.rev, a.pipes.p, a.pipes.err = st.Revision, nil, nil
		if st.Source != "" {
			a.pipes.p, a.pipes.err = handler.ParseWith("pipeline.yaml", []byte(st.Source), handler.Options{AllowUnknown: true})
			if a.pipes.err != nil {
				a.log.Error("http: the pipeline in force does not parse on this instance: ingest answers 503 until it changes",
					"revision", st.Revision, "error", a.pipes.err)
			}
		}
	}
	p, perr := a.pipes.p, a.pipes.err
	a.pipes.mu.Unlock()
	if perr != nil {
		// Its connectors may ask for tokens: taking the request with the
		// defaults would let it in without one.
		return nil, false, apiErrorf(http.StatusServiceUnavailable, "%s: this instance cannot read the pipeline in force (revision %d), so it does not know connector %s's limits and tokens; another instance may", ErrUnavailable, st.Revision, name)
	}
	if p == nil || p.Connectors == nil || len(p.Connectors.Inbound) == 0 {
		return def, false, nil
	}
	in := p.Connectors.Connector(name)
	if in == nil {
		var names []string
		for _, c := range p.Connectors.Inbound {
			if c.Type == "http" || c.Type == connector.ReplicationType {
				names = append(names, c.Name)
			}
		}
		return nil, false, apiErrorf(http.StatusNotFound, "no inbound connector %q: the pipeline declares these http and shoal connectors: %s", name, strings.Join(names, ", "))
	}
	switch spec := in.Spec.(type) {
	case *connector.HTTPInbound:
		return spec, false, nil
	case *connector.ReplicationInbound:
		// Changes from other clusters come through the same path, with
		// the same limits and tokens; the engine applies them.
		return &spec.HTTPInbound, true, nil
	}
	return nil, false, apiErrorf(http.StatusNotFound, "inbound connector %q is of type %s, not http or shoal: it takes no HTTP requests", name, in.Type)
}

func (a *api) ingest(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("connector")
	if !connectorPattern.MatchString(name) {
		return apiErrorf(http.StatusBadRequest, "connector %q: want 1 to 64 letters, digits, '.', '_' or '-'", name)
	}
	ctx, cancel := a.context(r)
	spec, changes, err := a.inbound(ctx, name)
	cancel()
	if he, ok := err.(*httpError); ok && he.status == http.StatusNotFound && principalOf(r).foreign {
		// Which connectors there are is not for a stranger to learn.
		return unauthorized(w, Realm, true, "the token is not one of this cluster's API tokens")
	}
	if err != nil {
		return err
	}
	if err := authorize(w, r, spec, name); err != nil {
		return err
	}
	id := r.Header.Get(HeaderMessageID)
	if id == "" || len(id) > kv.MaxMessageID {
		return apiErrorf(http.StatusBadRequest, "header %s: want the message's id, 1 to %d bytes (it makes a message sent twice count once)", HeaderMessageID, kv.MaxMessageID)
	}
	key := r.Header.Get(HeaderMessageKey)
	if len(key) > MaxKeyLen {
		return apiErrorf(http.StatusBadRequest, "header %s: %s", HeaderMessageKey, keyError(key))
	}
	headers := ingestHeaders(r)
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-ndjson" || mt == "application/jsonl" {
		if changes {
			return apiErrorf(http.StatusUnsupportedMediaType, "connector %s is of type %s: it takes one change a request, as application/json", name, connector.ReplicationType)
		}
		return a.ingestBatch(w, r, spec, name, id, key, headers)
	}
	body, err := a.readRaw(w, r, "application/json", "text/plain", "application/x-www-form-urlencoded")
	if err != nil {
		return err
	}
	if len(body) > kv.MaxPayload {
		return apiErrorf(http.StatusRequestEntityTooLarge, "a message of %d bytes: at most %d", len(body), kv.MaxPayload)
	}
	if int64(len(body)) > spec.MaxBody {
		return apiErrorf(http.StatusRequestEntityTooLarge, "a message of %d bytes: connector %s takes at most %d (max_body)", len(body), name, spec.MaxBody)
	}
	if err := checkJSONObject(body); err != nil {
		return apiErrorf(http.StatusBadRequest, "request body: %s", err)
	}
	switch {
	case changes:
		// A change routes by its object's route, which any bytes may
		// make (a header could not carry them all): the header is not
		// asked for.
		c, err := kv.ParseChange(body)
		if err != nil {
			return apiErrorf(http.StatusBadRequest, "request body: %s", err)
		}
		key = c.Route
	case key == "":
		key = id
	}
	msg := &kv.Message{ID: id, Connector: name, Headers: headers, Payload: bytes.Clone(body)}
	if err := msg.Check(); err != nil {
		return apiErrorf(http.StatusBadRequest, "message: %s", err)
	}
	resp, err := a.doQueue(r, kv.Request{Op: kv.OpEnqueue, Key: key, Message: msg})
	if err != nil {
		return err
	}
	q := resp.Queue
	if q == nil {
		return fmt.Errorf("the backend answered an enqueue without its position")
	}
	respond(w, http.StatusAccepted, IngestResult{ID: id, Replicaset: q.Replicaset, Position: q.Tail})
	return nil
}

// authorize checks the request's bearer token when the connector asks
// for one: 401, with WWW-Authenticate, when it has none or the
// Authorization header is not one bearer token; 403 when the token is
// not one of the connector's. With API authentication on (auth.go), a
// request the API admitted with one of its tokens is in, and one whose
// token the API does not know is the connector's to judge: a connector
// that declares no token answers it 401. The messages never quote the
// header: it may hold a secret.
func authorize(w http.ResponseWriter, r *http.Request, spec *connector.HTTPInbound, name string) error {
	who := principalOf(r)
	switch {
	case who.on && !who.foreign:
		return nil // an API token whose role may ingest
	case !spec.NeedsToken() && who.foreign:
		return unauthorized(w, Realm, true, "the token is not one of this cluster's API tokens, and connector %s declares no tokens of its own", name)
	case !spec.NeedsToken():
		return nil
	}
	token, present, why := bearerToken(r)
	switch {
	case !present:
		return unauthorized(w, IngestRealm, false, "connector %s takes only requests with a token: send Authorization: Bearer TOKEN", name)
	case why != "":
		return unauthorized(w, IngestRealm, false, "%s", why)
	case !spec.Authorizes(token):
		return apiErrorf(http.StatusForbidden, "connector %s does not take this token: its token_sha256 lists the SHA-256 digest of every token it takes", name)
	}
	return nil
}

// ingestHeaders are the request's X- headers, which travel with its
// messages, sorted by name.
func ingestHeaders(r *http.Request) []kv.Header {
	var out []kv.Header
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for name := range r.Header {
			if strings.HasPrefix(name, IngestHeaderPrefix) && !yield(name) {
				return
			}
		}
	}) {
		out = append(out, kv.Header{Name: name, Value: strings.Join(r.Header.Values(name), ", ")})
	}
	return out
}

// batchLine is one message of a batch, checked.
type batchLine struct {
	item IngestItem
	key  string
	msg  *kv.Message
}

func (a *api) ingestBatch(w http.ResponseWriter, r *http.Request, spec *connector.HTTPInbound, name, id, key string, headers []kv.Header) error {
	if len(id) > maxBatchID {
		return apiErrorf(http.StatusBadRequest, "header %s: a batch's id is at most %d bytes (its messages add their line number)", HeaderMessageID, maxBatchID)
	}
	body, err := a.readLimited(w, r, spec.MaxBody, "application/x-ndjson", "application/jsonl")
	if err != nil {
		return err
	}
	var keyPath *route.Path
	if f := r.Header.Get(HeaderKeyField); f != "" {
		if key != "" {
			return apiErrorf(http.StatusBadRequest, "headers %s and %s: give one of them", HeaderMessageKey, HeaderKeyField)
		}
		p, why := route.ParsePath("$." + f)
		if why != "" {
			return apiErrorf(http.StatusBadRequest, "header %s: %s", HeaderKeyField, why)
		}
		keyPath = &p
	}
	var lines []*batchLine
	bad := 0
	for n, text := range bytes.Split(body, []byte("\n")) {
		text = bytes.TrimSuffix(text, []byte("\r"))
		if len(bytes.TrimSpace(text)) == 0 {
			continue // blank lines, the final newline among them
		}
		if len(lines) == spec.MaxItems {
			return apiErrorf(http.StatusRequestEntityTooLarge, "more than %d messages in one request (max_items of connector %s)", spec.MaxItems, name)
		}
		l := &batchLine{item: IngestItem{Line: n + 1, ID: id + "/" + strconv.Itoa(n+1)}}
		lines = append(lines, l)
		if err := l.check(text, name, key, keyPath, headers); err != nil {
			l.item.Error = err.Error()
			bad++
		}
	}
	if len(lines) == 0 {
		return apiErrorf(http.StatusBadRequest, "request body: no messages (one JSON object per line)")
	}
	if bad > 0 {
		items := make([]IngestItem, 0, bad)
		for _, l := range lines {
			if l.item.Error != "" {
				items = append(items, l.item)
			}
		}
		return &httpError{status: http.StatusBadRequest, body: IngestBatchResult{
			Error: fmt.Sprintf("%d of %d lines are not messages; nothing was enqueued", bad, len(lines)), Items: items}}
	}
	return a.enqueueBatch(w, r, lines)
}

// check reads one line into its message.
func (l *batchLine) check(text []byte, name, key string, keyPath *route.Path, headers []kv.Header) error {
	if len(text) > kv.MaxPayload {
		return fmt.Errorf("a message of %d bytes, at most %d", len(text), kv.MaxPayload)
	}
	if err := checkJSONObject(text); err != nil {
		return err
	}
	l.key = key
	if keyPath != nil {
		var fields map[string]any
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.UseNumber()
		if err := dec.Decode(&fields); err != nil {
			return err
		}
		v, ok := keyPath.Lookup(fields)
		switch v := v.(type) {
		case string:
			l.key = v
		case fmt.Stringer: // json.Number
			l.key = v.String()
		default:
			if !ok {
				return fmt.Errorf("no field %s for the message's key", keyPath)
			}
			return fmt.Errorf("field %s: a key must be a string or a number", keyPath)
		}
		if len(l.key) == 0 || len(l.key) > MaxKeyLen {
			return fmt.Errorf("field %s: %s", keyPath, keyError(l.key))
		}
	}
	if l.key == "" {
		l.key = l.item.ID
	}
	l.msg = &kv.Message{ID: l.item.ID, Connector: name, Headers: headers, Payload: bytes.Clone(text)}
	return l.msg.Check()
}

// enqueueBatch enqueues checked lines: different keys at once, one key's
// lines in order. It stops at the first failure (a full queue, say) and
// answers with it and every line's fate.
func (a *api) enqueueBatch(w http.ResponseWriter, r *http.Request, lines []*batchLine) error {
	var order []string
	byKey := map[string][]*batchLine{}
	for _, l := range lines {
		if byKey[l.key] == nil {
			order = append(order, l.key)
		}
		byKey[l.key] = append(byKey[l.key], l)
	}
	var (
		mu    sync.Mutex
		first error
		done  int
		wg    sync.WaitGroup
		keys  = make(chan string)
	)
	for range min(batchWorkers, len(order)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range keys {
				for _, l := range byKey[k] {
					mu.Lock()
					stop := first != nil
					mu.Unlock()
					if stop {
						break
					}
					resp, err := a.doQueue(r, kv.Request{Op: kv.OpEnqueue, Key: l.key, Message: l.msg})
					mu.Lock()
					switch {
					case err != nil:
						if first == nil {
							first = err
						}
						l.item.Error = err.Error()
						if he, ok := err.(*httpError); ok {
							if eb, ok := he.body.(ErrorBody); ok {
								l.item.Error = eb.Error
							}
						}
					case resp.Queue == nil:
						first = fmt.Errorf("the backend answered an enqueue without its position")
					default:
						l.item.Replicaset, l.item.Position = resp.Queue.Replicaset, resp.Queue.Tail
						done++
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, k := range order {
		keys <- k
	}
	close(keys)
	wg.Wait()
	res := IngestBatchResult{Enqueued: done, Items: make([]IngestItem, len(lines))}
	for i, l := range lines {
		res.Items[i] = l.item
	}
	if first == nil {
		respond(w, http.StatusAccepted, res)
		return nil
	}
	he, ok := first.(*httpError)
	if !ok {
		return first
	}
	res.Error = fmt.Sprintf("%d of %d messages enqueued, then: %s; send the batch again (the messages taken count once)", done, len(lines), errorText(he))
	return &httpError{status: he.status, body: res, cause: he.cause, retryAfter: he.retryAfter}
}

func errorText(he *httpError) string {
	if eb, ok := he.body.(ErrorBody); ok {
		return eb.Error
	}
	return http.StatusText(he.status)
}
