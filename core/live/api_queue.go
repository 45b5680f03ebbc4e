package live

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/handler"
	"github.com/shoaldb/shoal/core/kv"
)

// The inbound pipeline over HTTP:
//
//	POST   /v1/ingest/{connector}                 hand in one message (a JSON object)
//	GET    /v1/queue                              every replicaset's queue depths
//	GET    /v1/repair?replicaset=RS&after=N&limit=M   list a repair queue
//	GET    /v1/repair/{replicaset}/{position}     one repair entry
//	PUT    /v1/repair/{replicaset}/{position}     replace its payload (the body)
//	POST   /v1/repair/{replicaset}/{position}/retry   put it back in the inbound queue
//	DELETE /v1/repair/{replicaset}/{position}     purge it
//	GET    /v1/pipeline                           the pipeline in force (YAML)
//	PUT    /v1/pipeline                           set it (YAML body)

// IngestResult is the body of a 202 from POST /v1/ingest/{connector}: where
// the message waits (a message sent again within the idempotency window
// gets the first one's position).
type IngestResult struct {
	ID         string `json:"id"`
	Replicaset string `json:"replicaset"`
	Position   uint64 `json:"position"`
}

// QueueBody is one replicaset's queues (GET /v1/queue, GET /v1/repair).
type QueueBody struct {
	Replicaset string        `json:"replicaset"`
	Depth      int           `json:"depth"`
	Bytes      int64         `json:"bytes"`
	Head       uint64        `json:"head"`
	Tail       uint64        `json:"tail"`
	OldestAt   *time.Time    `json:"oldest_at,omitempty"`
	Repairs    int           `json:"repairs"`
	Outbound   int           `json:"outbound"`
	Settled    uint64        `json:"settled"`
	Entries    []RepairEntry `json:"entries,omitempty"`
	// The outbound queue: messages in its repair entries, and the
	// destinations with messages waiting.
	OutRepairs   int               `json:"outbound_repairs,omitempty"`
	Destinations []DestinationBody `json:"destinations,omitempty"`
	// OutEntries are outbound repair entries (?kind=outbound).
	OutEntries []OutRepairBody `json:"outbound_entries,omitempty"`
}

// DestinationBody is one destination's part of the outbound queue.
type DestinationBody struct {
	Destination string     `json:"destination"`
	Depth       int        `json:"depth"`
	OldestAt    *time.Time `json:"oldest_at,omitempty"`
}

// OutRepairBody is an outbound message that ran out of attempts.
type OutRepairBody struct {
	Position       uint64    `json:"position"`
	Destination    string    `json:"destination"`
	IdempotencyKey string    `json:"idempotency_key"`
	Key            string    `json:"key"` // its order key
	MessageID      string    `json:"message_id"`
	QueuedAt       time.Time `json:"queued_at"`
	Attempts       int       `json:"attempts"`
	Reason         string    `json:"reason"`
	FailedAt       time.Time `json:"failed_at"`
	// Payload is the message's value: its JSON when it is JSON, else a
	// string.
	Payload json.RawMessage `json:"payload"`
}

// RepairEntry is a message in a repair queue, with why it is there.
type RepairEntry struct {
	Position   uint64            `json:"position"`
	ID         string            `json:"id"`
	Connector  string            `json:"connector"`
	Headers    map[string]string `json:"headers,omitempty"`
	EnqueuedAt time.Time         `json:"enqueued_at"`
	Attempts   int               `json:"attempts"`
	Key        string            `json:"key,omitempty"`     // the routing key whose chain failed
	Step       int               `json:"step"`              // the chain's step; -1 for routing or storing
	Handler    string            `json:"handler,omitempty"` // the handler of that step
	Reason     string            `json:"reason"`
	FailedAt   time.Time         `json:"failed_at"`
	// Payload is the message's payload: its JSON when it is JSON, else a
	// string.
	Payload json.RawMessage `json:"payload"`
}

// IngestHeaderPrefix marks the HTTP headers that travel with a message
// into the pipeline (where routing rules and handlers see them).
const IngestHeaderPrefix = "X-"

// Message id and key headers of POST /v1/ingest.
const (
	// HeaderMessageID names a message: the idempotency key by which the
	// queue takes a message sent twice once. Required.
	HeaderMessageID = "Idempotency-Key"
	// HeaderMessageKey optionally names the key that picks the message's
	// replicaset (default: the message id). A pipeline stores objects only
	// in the replicaset that received the message, so a connector whose
	// messages become objects of a model with several replicasets sends
	// the key the object is routed by (its affinity value).
	HeaderMessageKey = "Shoal-Key"
)

var connectorPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// checkJSONObject checks that body is one JSON object, saying where it is
// not.
func checkJSONObject(body []byte) error {
	if err := utf8Error(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	// Raw, so that a number no float64 holds is no error: the handlers
	// read numbers as json.Number.
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		return jsonSyntaxError(body, err)
	}
	if v[0] != '{' {
		return fmt.Errorf("want a JSON object, got %s", jsonKind(v))
	}
	if end := skipSpace(body, int(dec.InputOffset()), ""); end < len(body) {
		return fmt.Errorf("%s: data after the object", bodyPosition(body, end))
	}
	return nil
}

// doQueue runs a queue request: its answers beyond do's are busy (429,
// with Retry-After), not found (404) and invalid (400).
func (a *api) doQueue(r *http.Request, req kv.Request) (kv.Response, error) {
	ctx, cancel := a.context(r)
	defer cancel()
	resp, err := a.b.Do(ctx, req)
	if err != nil {
		return resp, backendError(err)
	}
	switch resp.Status {
	case kv.StatusOK:
		return resp, nil
	case kv.StatusBusy:
		e := apiErrorf(http.StatusTooManyRequests, "%s; nothing was enqueued: send it again later", resp.Error)
		e.retryAfter = max(1, int(math.Ceil(time.Duration(resp.RetryAfter).Seconds())))
		return resp, e
	case kv.StatusNotFound:
		return resp, apiErrorf(http.StatusNotFound, "%s", resp.Error)
	case kv.StatusInvalid:
		return resp, apiErrorf(http.StatusBadRequest, "%s", resp.Error)
	case kv.StatusRedirect:
		// The runtime should have forwarded it. A redirect did nothing:
		// unavailable, as do says, without sending it again.
		e := apiErrorf(http.StatusServiceUnavailable, "%s (this node could not forward the request: leader %q, hint %q)", ErrUnavailable, resp.Leader, resp.Hint)
		e.cause = fmt.Errorf("the backend answered a %s with a redirect (leader %q, hint %q)", req.Op, resp.Leader, resp.Hint)
		return resp, e
	}
	return resp, fmt.Errorf("the backend answered a %s with %s", req.Op, resp.Status)
}

// replicasets lists the cluster's replicasets.
func (a *api) replicasets(r *http.Request) ([]string, error) {
	if v, ok := a.b.(configViewer); ok {
		if names, ok := v.ReplicasetNames(); ok {
			return names, nil
		}
	}
	ctx, cancel := a.context(r)
	defer cancel()
	st, err := a.b.Cluster(ctx)
	if err != nil {
		return nil, backendError(err)
	}
	var names []string
	for _, rs := range st.Replicasets {
		names = append(names, rs.Name)
	}
	return names, nil
}

func (a *api) readQueue(r *http.Request, rs, list string, after uint64, limit int) (QueueBody, error) {
	resp, err := a.doQueue(r, kv.Request{Op: kv.OpReadQueue, Queue: &kv.QueueRequest{Replicaset: rs, List: list, After: after, Limit: limit}})
	if err != nil {
		return QueueBody{}, err
	}
	q := resp.Queue
	if q == nil {
		return QueueBody{}, fmt.Errorf("the backend answered a queue read without the queue")
	}
	b := QueueBody{Replicaset: q.Replicaset, Depth: q.Depth, Bytes: q.Bytes, Head: q.Head, Tail: q.Tail,
		Repairs: q.Repairs, Outbound: q.Outbound, Settled: q.Settled}
	if q.OldestAt != 0 {
		t := time.Unix(0, q.OldestAt).UTC()
		b.OldestAt = &t
	}
	for _, e := range q.Entries {
		b.Entries = append(b.Entries, repairEntry(&e))
	}
	b.OutRepairs = q.OutRepairs
	for _, d := range q.Destinations {
		db := DestinationBody{Destination: d.Destination, Depth: d.Depth}
		if d.OldestAt != 0 {
			t := time.Unix(0, d.OldestAt).UTC()
			db.OldestAt = &t
		}
		b.Destinations = append(b.Destinations, db)
	}
	for _, e := range q.OutEntries {
		b.OutEntries = append(b.OutEntries, OutRepairBody{Position: e.Seq, Destination: e.Destination,
			IdempotencyKey: fmt.Sprintf("%s-%d", q.Replicaset, e.Origin), Key: e.Key, MessageID: e.MessageID,
			QueuedAt: time.Unix(0, e.At).UTC(), Attempts: e.Attempts, Reason: e.Reason, FailedAt: time.Unix(0, e.FailedAt).UTC(),
			Payload: payloadJSON(e.Value)})
	}
	return b, nil
}

// payloadJSON is a payload as a JSON value: itself when it is JSON, else
// a string.
func payloadJSON(p []byte) json.RawMessage {
	if json.Valid(p) {
		return json.RawMessage(p)
	}
	s, _ := json.Marshal(string(p))
	return s
}

// repairKind reads ?kind=: inbound (the default) or outbound repair
// entries.
func repairKind(r *http.Request) (outbound bool, err error) {
	switch k := r.URL.Query().Get("kind"); k {
	case "", "inbound":
		return false, nil
	case "outbound":
		return true, nil
	default:
		return false, apiErrorf(http.StatusBadRequest, "kind %q: want inbound or outbound", k)
	}
}

func repairEntry(e *kv.RepairEntry) RepairEntry {
	out := RepairEntry{Position: e.Seq, ID: e.Message.ID, Connector: e.Message.Connector, EnqueuedAt: time.Unix(0, e.At).UTC(),
		Attempts: e.Attempts, Key: e.Failure.Key, Step: e.Failure.Step, Handler: e.Failure.Handler, Reason: e.Failure.Reason,
		FailedAt: time.Unix(0, e.FailedAt).UTC()}
	if len(e.Message.Headers) > 0 {
		out.Headers = map[string]string{}
		for _, h := range e.Message.Headers {
			out.Headers[h.Name] = h.Value
		}
	}
	out.Payload = payloadJSON(e.Message.Payload)
	return out
}

func (a *api) queues(w http.ResponseWriter, r *http.Request) error {
	names, err := a.replicasets(r)
	if err != nil {
		return err
	}
	out := []QueueBody{}
	for _, rs := range names {
		q, err := a.readQueue(r, rs, "", 0, 0)
		if err != nil {
			return err
		}
		out = append(out, q)
	}
	respond(w, http.StatusOK, out)
	return nil
}

// listRepair lists a repair queue: ?replicaset= (required when the cluster
// has several), ?after= a position, ?limit= at most kv.MaxQueuePage.
func (a *api) listRepair(w http.ResponseWriter, r *http.Request) error {
	query := r.URL.Query()
	rs := query.Get("replicaset")
	if rs == "" {
		names, err := a.replicasets(r)
		if err != nil {
			return err
		}
		if len(names) == 0 {
			return apiErrorf(http.StatusServiceUnavailable, "%s: the cluster has no replicaset yet", ErrUnavailable)
		}
		if len(names) != 1 {
			return apiErrorf(http.StatusBadRequest, "replicaset: the cluster has %d replicasets (%s): name one, such as ?replicaset=%s",
				len(names), strings.Join(names, ", "), names[0])
		}
		rs = names[0]
	}
	after, err := queryUint(query.Get("after"), "after", 0, math.MaxUint64-1)
	if err != nil {
		return err
	}
	limit, err := queryUint(query.Get("limit"), "limit", 1, kv.MaxQueuePage)
	if err != nil {
		return err
	}
	outbound, err := repairKind(r)
	if err != nil {
		return err
	}
	list := "repair"
	if outbound {
		list = "outbound"
	}
	q, err := a.readQueue(r, rs, list, after, int(limit))
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, q)
	return nil
}

func queryUint(s, name string, lo, hi uint64) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, apiErrorf(http.StatusBadRequest, "%s: want an integer from %d to %d, got %q", name, lo, hi, s)
	}
	return v, nil
}

// repairTarget reads {replicaset} and {position}.
func repairTarget(r *http.Request) (string, uint64, error) {
	rs := r.PathValue("replicaset")
	pos, err := strconv.ParseUint(r.PathValue("position"), 10, 64)
	if err != nil || pos == 0 {
		return "", 0, apiErrorf(http.StatusBadRequest, "position %q: want the entry's position, a positive integer", r.PathValue("position"))
	}
	return rs, pos, nil
}

func (a *api) getRepair(w http.ResponseWriter, r *http.Request) error {
	rs, pos, err := repairTarget(r)
	if err != nil {
		return err
	}
	outbound, err := repairKind(r)
	if err != nil {
		return err
	}
	if outbound {
		q, err := a.readQueue(r, rs, "outbound", pos-1, 1)
		if err != nil {
			return err
		}
		if len(q.OutEntries) == 0 || q.OutEntries[0].Position != pos {
			return apiErrorf(http.StatusNotFound, "the outbound repair entries of %s have no entry %d", rs, pos)
		}
		respond(w, http.StatusOK, q.OutEntries[0])
		return nil
	}
	q, err := a.readQueue(r, rs, "repair", pos-1, 1)
	if err != nil {
		return err
	}
	if len(q.Entries) == 0 || q.Entries[0].Position != pos {
		return apiErrorf(http.StatusNotFound, "the repair queue of %s has no entry %d", rs, pos)
	}
	respond(w, http.StatusOK, q.Entries[0])
	return nil
}

func (a *api) repair(action kv.RepairAction) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		rs, pos, err := repairTarget(r)
		if err != nil {
			return err
		}
		outbound, err := repairKind(r)
		if err != nil {
			return err
		}
		q := &kv.QueueRequest{Replicaset: rs, Action: action, Seq: pos, Outbound: outbound}
		if action == kv.RepairEdit {
			body, err := a.readRaw(w, r, "application/json", "text/plain", "application/x-www-form-urlencoded")
			if err != nil {
				return err
			}
			if len(body) > kv.MaxPayload {
				return apiErrorf(http.StatusRequestEntityTooLarge, "a payload of %d bytes: at most %d", len(body), kv.MaxPayload)
			}
			if err := checkJSONObject(body); err != nil {
				return apiErrorf(http.StatusBadRequest, "request body: %s", err)
			}
			q.Payload = bytes.Clone(body)
		}
		resp, err := a.doQueue(r, kv.Request{Op: kv.OpRepair, Queue: q})
		if err != nil {
			return err
		}
		out := map[string]any{"replicaset": rs, "position": pos, "action": action.String()}
		if outbound {
			out["kind"] = "outbound"
		}
		if action == kv.RepairRetry && resp.Queue != nil {
			out["queued_at"] = resp.Queue.Tail
		}
		respond(w, http.StatusOK, out)
		return nil
	}
}

func (a *api) pipelineBackend() (PipelineBackend, error) {
	pb, ok := a.b.(PipelineBackend)
	if !ok {
		return nil, apiErrorf(http.StatusNotImplemented, "this node serves no pipeline")
	}
	return pb, nil
}

func (a *api) getPipeline(w http.ResponseWriter, r *http.Request) error {
	pb, err := a.pipelineBackend()
	if err != nil {
		return err
	}
	ctx, cancel := a.context(r)
	defer cancel()
	st, err := pb.Pipeline(ctx)
	if err != nil {
		return backendError(err)
	}
	respond(w, http.StatusOK, st)
	return nil
}

// putPipeline sets the pipeline: the body is checked fully, with this
// binary's handlers, before group 0 gets it.
func (a *api) putPipeline(w http.ResponseWriter, r *http.Request) error {
	pb, err := a.pipelineBackend()
	if err != nil {
		return err
	}
	return a.putConfigFile(w, r, func(body []byte) ([]byte, error) {
		if len(bytes.TrimSpace(body)) == 0 {
			return nil, nil // none: group 0 takes only "" for none
		}
		_, err := handler.Parse("pipeline.yaml", body)
		return body, err
	}, pb.SetPipeline, ErrPipelineRefused)
}
