package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/model"
)

// ModelStatus is what a node knows of the cluster's data models, from
// group 0's configuration.
type ModelStatus struct {
	// Revisions are the models the cluster accepted, oldest first; the
	// last is in force.
	Revisions []ModelRevision `json:"revisions"`
	// Pending is a proposed model whose replicasets are still voting.
	Pending *ModelRevision `json:"pending,omitempty"`
	// LastAbort is the last proposal a replicaset voted down.
	LastAbort *ModelAbort `json:"last_abort,omitempty"`
}

// ModelRevision is one accepted (or pending) model.
type ModelRevision struct {
	Revision int    `json:"revision"`
	Digest   string `json:"digest"`
	// Source is the model's YAML.
	Source string `json:"-"`
	// Votes, of a pending model: the replicasets that accepted it so far.
	Votes []string `json:"votes,omitempty"`
}

// ModelAbort is a model proposal that was voted down, and why.
type ModelAbort struct {
	Revision int    `json:"revision"`
	Reason   string `json:"reason"`
}

// ModelBackend is what the model and data endpoints need beyond Backend.
type ModelBackend interface {
	// Models describes the cluster's data models as this node knows them.
	Models(ctx context.Context) (ModelStatus, error)
	// ProposeModel proposes source as the cluster's next data model and
	// waits until group 0 decides it: the revision it became, or why it
	// was refused (ErrModelRefused), or unknown (ErrUnknownOutcome: group
	// 0 did not decide in time, which it cannot without a quorum).
	ProposeModel(ctx context.Context, source []byte) (int, error)
	// CancelModel abandons the pending change to revision rev, or says
	// why not (ErrModelRefused: no such change is pending), or that group
	// 0 did not take it in time (ErrUnknownOutcome).
	CancelModel(ctx context.Context, rev int) error
}

// ErrModelRefused wraps the reason group 0 or a replicaset refused a
// model.
var ErrModelRefused = errors.New("model refused")

// ModelBody is the body of GET /v1/model: the model in force.
type ModelBody struct {
	Revision int             `json:"revision"`
	Digest   string          `json:"digest"`
	Model    json.RawMessage `json:"model"` // model.Model's JSON description
}

// ObjectBody is the body of an object endpoint's answer.
type ObjectBody struct {
	Type     string `json:"type"`
	Key      string `json:"key"`
	Version  int    `json:"version,omitempty"`
	Revision uint64 `json:"revision,omitempty"`
	// Object is the object, in the latest shape of its type (reads).
	Object json.RawMessage `json:"object,omitempty"`
}

// HistoryBody is the body of GET /v1/data/{type}/{key}/history.
type HistoryBody struct {
	Type string `json:"type"`
	Key  string `json:"key"`
	// History is the object's kept previous versions, oldest first, and
	// then the object itself if it exists (a deleted object has only its
	// previous versions).
	History []HistoryEntry `json:"history"`
}

// HistoryEntry is one version of an object: in the latest shape of its
// type, or as stored (at its own version) when the model cannot upgrade
// it.
type HistoryEntry struct {
	Version  int             `json:"version"`
	Revision uint64          `json:"revision"`
	Object   json.RawMessage `json:"object"`
}

// models caches the parsed model in force: a node parses each model once
// (and keeps one, so that the cache stays bounded however many revisions
// the cluster goes through).
type models struct {
	mu     sync.Mutex
	digest string
	parsed *model.Model
}

func (c *models) get(rev ModelRevision) (*model.Model, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.parsed != nil && c.digest == rev.Digest {
		return c.parsed, nil
	}
	m, err := model.ParseWith("model.yaml", []byte(rev.Source), model.Options{AllowUnknownFuncs: true})
	if err != nil {
		return nil, err
	}
	c.digest, c.parsed = rev.Digest, m
	return m, nil
}

func (a *api) modelBackend() (ModelBackend, error) {
	mb, ok := a.b.(ModelBackend)
	if !ok {
		return nil, apiErrorf(http.StatusNotImplemented, "this node serves no data model")
	}
	return mb, nil
}

// current is the model in force and its revision, as the backend's
// published view has it (configViewer), without a trip to its loop. The
// view is as fresh as the loop was at the end of its last batch; a
// model group 0 applied in a batch still under way, or in one queued
// behind it, is not in it yet. So where the view has no model, the loop
// is asked; a request that names what the view's model lacks (a type, a
// version) asks it too (currentFresh), so that a client that saw a
// model accepted on one instance and writes by it on another at once is
// judged by it there, as a trip to the loop would have judged it.
func (a *api) current(r *http.Request) (*model.Model, ModelRevision, error) {
	return a.currentFrom(r, false)
}

// currentFresh is current from the loop.
func (a *api) currentFresh(r *http.Request) (*model.Model, ModelRevision, error) {
	return a.currentFrom(r, true)
}

func (a *api) currentFrom(r *http.Request, fresh bool) (*model.Model, ModelRevision, error) {
	mb, err := a.modelBackend()
	if err != nil {
		return nil, ModelRevision{}, err
	}
	st, ok := ModelStatus{}, false
	if v, viewer := a.b.(configViewer); viewer && !fresh {
		st, ok = v.ModelsNow()
		ok = ok && len(st.Revisions) > 0
	}
	if !ok {
		ctx, cancel := a.context(r)
		defer cancel()
		if st, err = mb.Models(ctx); err != nil {
			return nil, ModelRevision{}, backendError(err)
		}
	}
	if len(st.Revisions) == 0 {
		return nil, ModelRevision{}, apiErrorf(http.StatusNotFound, "the cluster has no data model yet: PUT /v1/model")
	}
	rev := st.Revisions[len(st.Revisions)-1]
	m, err := a.models.get(rev)
	if err != nil {
		return nil, rev, fmt.Errorf("model revision %d does not parse: %w", rev.Revision, err)
	}
	return m, rev, nil
}

func (a *api) getModel(w http.ResponseWriter, r *http.Request) error {
	format, err := queryOnce(r, "format")
	if err != nil {
		return err
	}
	if format != "" && format != "json" && format != "yaml" {
		return apiErrorf(http.StatusBadRequest, "format %q: want json or yaml", format)
	}
	m, rev, err := a.current(r)
	if err != nil {
		return err
	}
	if format == "yaml" {
		w.Header().Set("Content-Type", "application/yaml")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		w.Write(m.Source())
		return nil
	}
	desc, err := m.MarshalJSON()
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, ModelBody{Revision: rev.Revision, Digest: rev.Digest, Model: desc})
	return nil
}

func (a *api) modelVersions(w http.ResponseWriter, r *http.Request) error {
	mb, err := a.modelBackend()
	if err != nil {
		return err
	}
	ctx, cancel := a.context(r)
	defer cancel()
	st, err := mb.Models(ctx)
	if err != nil {
		return backendError(err)
	}
	if st.Revisions == nil {
		st.Revisions = []ModelRevision{}
	}
	respond(w, http.StatusOK, st)
	return nil
}

// putModel proposes the body, a model in YAML. It is checked here first,
// so that a mistake is answered at once with every problem and its line.
func (a *api) putModel(w http.ResponseWriter, r *http.Request) error {
	mb, err := a.modelBackend()
	if err != nil {
		return err
	}
	return a.putConfigFile(w, r, func(body []byte) ([]byte, error) {
		_, err := model.Parse("model.yaml", body)
		return body, err
	}, mb.ProposeModel, ErrModelRefused)
}

// putConfigFile reads a YAML file for group 0 (a model, a pipeline),
// checks it (check may also replace it), proposes it and answers with
// the revision it became: 400 when it does not check, 422 when group 0
// refuses it (refused), 504 when undecided.
func (a *api) putConfigFile(w http.ResponseWriter, r *http.Request, check func([]byte) ([]byte, error),
	propose func(context.Context, []byte) (int, error), refused error) error {
	// JSON is YAML too; the CLI sends its bodies as JSON.
	body, err := a.readRaw(w, r, "application/yaml", "application/x-yaml", "text/yaml", "application/json", "text/plain", "application/x-www-form-urlencoded")
	if err != nil {
		return err
	}
	if body, err = check(body); err != nil {
		return apiErrorf(http.StatusBadRequest, "%s", err)
	}
	ctx, cancel := a.context(r)
	defer cancel()
	rev, err := propose(ctx, body)
	switch {
	case errors.Is(err, refused):
		return apiErrorf(http.StatusUnprocessableEntity, "%s", err)
	case err != nil:
		return backendError(err)
	}
	respond(w, http.StatusOK, map[string]int{"revision": rev})
	return nil
}

// cancelModel abandons the pending model change whose revision
// ?revision= names (so that a cancellation meant for one change never
// hits the next).
func (a *api) cancelModel(w http.ResponseWriter, r *http.Request) error {
	mb, err := a.modelBackend()
	if err != nil {
		return err
	}
	values := r.URL.Query()["revision"]
	rev, err := 0, error(nil)
	if len(values) == 1 {
		rev, err = strconv.Atoi(values[0])
	}
	if len(values) != 1 || err != nil || rev < 1 {
		return apiErrorf(http.StatusBadRequest, "revision: want once the revision of the pending change, such as ?revision=2")
	}
	ctx, cancel := a.context(r)
	defer cancel()
	switch err := mb.CancelModel(ctx, rev); {
	case errors.Is(err, ErrModelRefused):
		return apiErrorf(http.StatusConflict, "%s", err)
	case err != nil:
		return backendError(err)
	}
	respond(w, http.StatusOK, map[string]int{"cancelled": rev})
	return nil
}

// objectType is the request's type, in the model in force.
func (a *api) objectType(r *http.Request) (*model.Type, error) {
	name := r.PathValue("type")
	m, _, err := a.current(r)
	if err != nil {
		return nil, err
	}
	t, ok := m.Type(name)
	if !ok || newerVersion(r, t) {
		// Not in the published view: perhaps not yet (current).
		if m, _, err = a.currentFresh(r); err != nil {
			return nil, err
		}
		if t, ok = m.Type(name); !ok {
			return nil, apiErrorf(http.StatusNotFound, "the model has no type %q", name)
		}
	}
	return t, nil
}

// newerVersion reports whether the request's ?version= names a version
// of t past its latest.
func newerVersion(r *http.Request, t *model.Type) bool {
	v, err := strconv.Atoi(r.URL.Query().Get("version"))
	return err == nil && v > t.Latest()
}

// objectKey is the request's object key, encoded, and the key it routes
// by. A key longer than the store takes is refused here: no object can
// have it, and a delete of it would reach the log only to be rejected.
func objectKey(r *http.Request, t *model.Type) (pk, route string, err error) {
	text := r.PathValue("key")
	if r.Context().Value(slashKey{}) != nil {
		text = "/"
	}
	shown := text
	if len(shown) > 64 {
		shown = strings.ToValidUTF8(shown[:64], "") + "..."
	}
	if pk, err = t.ParseKey(text); err != nil {
		return "", "", apiErrorf(http.StatusBadRequest, "key %q of %s: %v", shown, t.Name, err)
	}
	if len(pk) > kv.MaxPKLen {
		return "", "", apiErrorf(http.StatusBadRequest, "key %q of %s: %d bytes encoded, over %d", shown, t.Name, len(pk), kv.MaxPKLen)
	}
	if route, err = t.RouteKey(pk); err != nil {
		return "", "", apiErrorf(http.StatusBadRequest, "key %q of %s: %v", shown, t.Name, err)
	}
	return pk, route, nil
}

// queryOnce is a query parameter given at most once ("" if not given).
func queryOnce(r *http.Request, name string) (string, error) {
	values := r.URL.Query()[name]
	if len(values) > 1 {
		return "", apiErrorf(http.StatusBadRequest, "%s: given %d times, want once", name, len(values))
	}
	if len(values) == 0 {
		return "", nil
	}
	return values[0], nil
}

// objectVersion is the version ?version= names, the type's latest if
// none.
func objectVersion(r *http.Request, t *model.Type) (int, error) {
	v, err := queryOnce(r, "version")
	if err != nil || v == "" {
		return t.Latest(), err
	}
	version, err := strconv.Atoi(v)
	if err != nil || version < 1 || version > t.Latest() {
		if t.Latest() == 1 {
			return 0, apiErrorf(http.StatusBadRequest, "version %q: %s has version 1 only", v, t.Name)
		}
		return 0, apiErrorf(http.StatusBadRequest, "version %q: %s has versions 1 to %d", v, t.Name, t.Latest())
	}
	return version, nil
}

// checkBounds refuses an object the store would not take (kv's bounds on
// an object write): the leader's command would be rejected in the log,
// after the client had waited for it.
func checkBounds(t *model.Type, version int, obj model.Object, pk string) error {
	if len(pk) > kv.MaxPKLen {
		return apiErrorf(http.StatusBadRequest, "$: the key (%s) is %d bytes encoded, over %d", strings.Join(t.Key, ", "), len(pk), kv.MaxPKLen)
	}
	latest, err := t.Upgrade(version, obj)
	if err != nil {
		return apiErrorf(http.StatusBadRequest, "%s", err)
	}
	if n := len(model.Encode(latest)); n > kv.MaxObjectValue {
		return apiErrorf(http.StatusRequestEntityTooLarge, "$: the object is %d bytes in version %d, over %d", n, t.Latest(), kv.MaxObjectValue)
	}
	entries, err := t.IndexEntries(latest)
	if err != nil {
		return apiErrorf(http.StatusBadRequest, "%s", err)
	}
	for _, e := range entries {
		if len(e.Key) > kv.MaxIndexKeyLen {
			fields := ""
			for _, ix := range t.Indexes {
				if ix.Name == e.Index {
					fields = strings.Join(ix.Fields, ", ")
				}
			}
			return apiErrorf(http.StatusBadRequest, "$: index %s (%s): the key is %d bytes encoded, over %d", e.Index, fields, len(e.Key), kv.MaxIndexKeyLen)
		}
	}
	return nil
}

// conditions reads If-Match (the revision the object must have) and
// If-None-Match: * (it must not exist).
func conditions(r *http.Request, o *kv.ObjectRequest) error {
	if v := r.Header.Get("If-Match"); v != "" {
		rev, err := strconv.ParseUint(strings.Trim(v, `"`), 10, 64)
		if err != nil || rev == 0 {
			return apiErrorf(http.StatusBadRequest, "If-Match %q: want an object's revision, such as \"42\"", v)
		}
		o.IfRevision = rev
	}
	if v := r.Header.Get("If-None-Match"); v != "" {
		if v != "*" {
			return apiErrorf(http.StatusBadRequest, "If-None-Match %q: only * is supported (the object must not exist)", v)
		}
		o.IfAbsent = true
	}
	if o.IfAbsent && o.IfRevision != 0 {
		// The store rejects such a write in its log.
		return apiErrorf(http.StatusBadRequest, "If-Match and If-None-Match: give one (an object cannot both exist and not)")
	}
	return nil
}

// doObject runs an object request and turns its refusals into answers;
// what names the object, for the log.
func (a *api) doObject(r *http.Request, req kv.Request, what string) (kv.Response, error) {
	ctx, cancel := a.context(r)
	defer cancel()
	resp, err := a.b.Do(ctx, req)
	if err != nil {
		return resp, backendError(err)
	}
	switch resp.Status {
	case kv.StatusOK:
		return resp, nil
	case kv.StatusInvalid:
		if req.Op.IsRead() {
			// A read asks nothing of the client to refuse: the stored
			// object does not upgrade, or the leader's model differs.
			e := apiErrorf(http.StatusInternalServerError, "internal error: the backend could not read %s: %s", what, resp.Error)
			e.cause = fmt.Errorf("the backend answered a %s of %s with %s: %s", req.Op, what, resp.Status, resp.Error)
			return resp, e
		}
		return resp, apiErrorf(http.StatusBadRequest, "%s", resp.Error)
	case kv.StatusConflict:
		typ := ""
		if req.Object != nil {
			typ = req.Object.Type
		}
		return resp, uniqueConflict(r, typ, resp.Error)
	case kv.StatusMismatch:
		return resp, apiErrorf(http.StatusPreconditionFailed, "precondition failed: %s", resp.Error)
	case kv.StatusRedirect:
		e := apiErrorf(http.StatusServiceUnavailable, "%s (this node could not forward the request)", ErrUnavailable)
		e.cause = fmt.Errorf("the backend answered a %s with a redirect (leader %q, hint %q)", req.Op, resp.Leader, resp.Hint)
		return resp, e
	}
	return resp, fmt.Errorf("the backend answered a %s with %s", req.Op, resp.Status)
}

// putObject stores the body, an object of the path's type at the version
// ?version= names (the latest if none), upgraded to the latest version.
func (a *api) putObject(w http.ResponseWriter, r *http.Request) error {
	return a.writeObject(w, r, false)
}

// writeObject stores the body as putObject says; keyed, the path names
// the object's key too, and the body's key must be it.
func (a *api) writeObject(w http.ResponseWriter, r *http.Request, keyed bool) error {
	t, err := a.objectType(r)
	if err != nil {
		return err
	}
	var pathPK string
	if keyed {
		if pathPK, _, err = objectKey(r, t); err != nil {
			return err
		}
	}
	version, err := objectVersion(r, t)
	if err != nil {
		return err
	}
	body, err := a.readRaw(w, r, "application/json", "text/plain", "application/x-www-form-urlencoded")
	if err != nil {
		return err
	}
	// Validated here for the key it routes by; the leader validates it
	// again against the model it has.
	obj, err := t.Validate(version, body)
	if err != nil {
		return apiErrorf(http.StatusBadRequest, "%s", err)
	}
	pk, err := t.PrimaryKey(obj)
	if err != nil {
		return apiErrorf(http.StatusBadRequest, "%s", err)
	}
	if keyed {
		if err := sameKey(t, obj, pathPK, "the body"); err != nil {
			return err
		}
	}
	route, err := t.RouteKey(pk)
	if err != nil {
		return apiErrorf(http.StatusBadRequest, "%s", err)
	}
	if err := checkBounds(t, version, obj, pk); err != nil {
		return err
	}
	o := &kv.ObjectRequest{Type: t.Name, Version: version, Value: body}
	if err := conditions(r, o); err != nil {
		return err
	}
	resp, err := a.doObject(r, kv.Request{Op: kv.OpPutObject, Key: route, Object: o}, t.Name+" "+t.KeyString(pk))
	if err != nil {
		return err
	}
	out := ObjectBody{Type: t.Name, Key: t.KeyString(pk), Version: t.Latest()}
	if resp.Object != nil {
		out.Revision = resp.Object.Revision
		w.Header().Set("ETag", strconv.Quote(strconv.FormatUint(out.Revision, 10)))
	}
	respond(w, http.StatusOK, out)
	return nil
}

// readObject reads the path's object, with its history if asked, at the
// consistency the request asks for, which the answer's header says.
func (a *api) readObject(w http.ResponseWriter, r *http.Request, history bool) (*model.Type, string, kv.Response, error) {
	t, err := a.objectType(r)
	if err != nil {
		return nil, "", kv.Response{}, err
	}
	pk, route, err := objectKey(r, t)
	if err != nil {
		return nil, "", kv.Response{}, err
	}
	stale, err := staleRead(r)
	if err != nil {
		return nil, "", kv.Response{}, err
	}
	resp, err := a.doObject(r, kv.Request{Op: kv.OpGetObject, Key: route, Stale: stale,
		Object: &kv.ObjectRequest{Type: t.Name, PK: pk, History: history}}, t.Name+" "+t.KeyString(pk))
	if err != nil {
		return nil, "", kv.Response{}, err
	}
	setConsistency(w, stale)
	return t, pk, resp, nil
}

func (a *api) getObject(w http.ResponseWriter, r *http.Request) error {
	t, pk, resp, err := a.readObject(w, r, false)
	if err != nil {
		return err
	}
	if resp.Object == nil {
		return apiErrorf(http.StatusNotFound, "%s %s not found", t.Name, t.KeyString(pk))
	}
	rec := resp.Object
	value, err := fieldsOf(r, t, false).trim(rec.Value)
	if err != nil {
		return fmt.Errorf("the backend answered a get of %s %s with revision %d not in JSON: %w", t.Name, t.KeyString(pk), rec.Revision, err)
	}
	w.Header().Set("ETag", strconv.Quote(strconv.FormatUint(rec.Revision, 10)))
	respond(w, http.StatusOK, ObjectBody{Type: t.Name, Key: t.KeyString(pk), Version: rec.Version, Revision: rec.Revision,
		Object: json.RawMessage(value)})
	return nil
}

// getObjectHistory reads an object's history: its kept previous
// versions, oldest first, then the object itself, if it exists (the
// model's history retention says how many previous versions a type
// keeps). It answers 404 only when there is neither an object nor any
// history: a deleted object keeps its previous versions until it is
// written again.
func (a *api) getObjectHistory(w http.ResponseWriter, r *http.Request) error {
	t, pk, resp, err := a.readObject(w, r, true)
	if err != nil {
		return err
	}
	what := t.Name + " " + t.KeyString(pk)
	if resp.Object == nil && len(resp.History) == 0 {
		return apiErrorf(http.StatusNotFound, "%s not found, and no history of it is kept", what)
	}
	out := HistoryBody{Type: t.Name, Key: t.KeyString(pk), History: make([]HistoryEntry, 0, len(resp.History)+1)}
	recs := resp.History
	if resp.Object != nil {
		recs = append(recs[:len(recs):len(recs)], *resp.Object)
	}
	read := fieldsOf(r, t, false)
	for _, rec := range recs {
		value, err := read.trim(rec.Value)
		if err != nil || !json.Valid(value) {
			// respond would fail to encode it: say which, and where.
			return fmt.Errorf("the backend answered a history of %s with revision %d not in JSON", what, rec.Revision)
		}
		out.History = append(out.History, HistoryEntry{Version: rec.Version, Revision: rec.Revision, Object: json.RawMessage(value)})
	}
	respond(w, http.StatusOK, out)
	return nil
}

func (a *api) deleteObject(w http.ResponseWriter, r *http.Request) error {
	t, err := a.objectType(r)
	if err != nil {
		return err
	}
	pk, route, err := objectKey(r, t)
	if err != nil {
		return err
	}
	o := &kv.ObjectRequest{Type: t.Name, PK: pk}
	if err := conditions(r, o); err != nil {
		return err
	}
	if o.IfAbsent {
		return apiErrorf(http.StatusBadRequest, "If-None-Match does not apply to a delete")
	}
	resp, err := a.doObject(r, kv.Request{Op: kv.OpDeleteObject, Key: route, Object: o}, t.Name+" "+t.KeyString(pk))
	if err != nil {
		return err
	}
	// The revision the object had; none when there was no object.
	out := ObjectBody{Type: t.Name, Key: t.KeyString(pk)}
	if resp.Object != nil {
		out.Revision = resp.Object.Revision
	}
	respond(w, http.StatusOK, out)
	return nil
}
