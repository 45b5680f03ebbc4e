package live

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/scenarios/examples"
)

// fakeModels is a fakeBackend that also serves models and objects: group
// 0 is a list of revisions, and the replicaset leader a map that
// validates, upgrades and stores objects the way the engine's leader does
// (core/node/model.go), so that answers carry real shapes. It fails on
// request like fakeBackend: modelsErr, proposeErr, objStatus. Like the
// state machine, it keeps each object's previous versions, as many as its
// type's history says, also after a delete.
type fakeModels struct {
	*fakeBackend
	mu sync.Mutex
	st ModelStatus
	// objects are the stored records by type and encoded key.
	objects map[[2]string]kv.ObjectRecord
	// history are the previous versions kept, oldest first, by type and
	// encoded key.
	history map[[2]string][]kv.ObjectRecord
	index   uint64
	// sent is every object request Do received, and proposed every
	// source ProposeModel received.
	sent     []kv.Request
	proposed [][]byte

	modelsErr  error     // Models fails with it
	proposeErr error     // ProposeModel fails with it
	objStatus  kv.Status // object requests are answered with it
	objError   string    // and this error
}

func newFakeModels(sources ...[]byte) *fakeModels {
	f := &fakeModels{fakeBackend: newFakeBackend(), objects: map[[2]string]kv.ObjectRecord{}, history: map[[2]string][]kv.ObjectRecord{}}
	for _, src := range sources {
		f.accept(src)
	}
	return f
}

// accept adds src as the next accepted revision.
func (f *fakeModels) accept(src []byte) int {
	m, err := model.Parse("model.yaml", src)
	if err != nil {
		panic(err)
	}
	rev := len(f.st.Revisions) + 1
	f.st.Revisions = append(f.st.Revisions, ModelRevision{Revision: rev, Digest: m.Digest(), Source: string(src)})
	return rev
}

func (f *fakeModels) Models(ctx context.Context) (ModelStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st, f.modelsErr
}

func (f *fakeModels) ProposeModel(ctx context.Context, source []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.proposed = append(f.proposed, bytes.Clone(source))
	if f.proposeErr != nil {
		return 0, f.proposeErr
	}
	return f.accept(source), nil
}

func (f *fakeModels) CancelModel(ctx context.Context, rev int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.proposeErr != nil {
		return f.proposeErr
	}
	if f.st.Pending == nil || f.st.Pending.Revision != rev {
		return fmt.Errorf("%w: model: no change to revision %d is pending", ErrModelRefused, rev)
	}
	f.st.Pending, f.st.LastAbort = nil, &ModelAbort{Revision: rev, Reason: "cancelled by an operator"}
	return nil
}

// lastSent is the last object request Do received.
func (f *fakeModels) lastSent() (kv.Request, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sent) == 0 {
		return kv.Request{}, false
	}
	return f.sent[len(f.sent)-1], true
}

func (f *fakeModels) Do(ctx context.Context, req kv.Request) (kv.Response, error) {
	if !req.Op.IsObject() {
		return f.fakeBackend.Do(ctx, req)
	}
	if f.block {
		<-ctx.Done()
		return kv.Response{}, ErrUnknownOutcome
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	cp := req
	o := *req.Object
	o.Value = bytes.Clone(o.Value)
	cp.Object = &o
	f.sent = append(f.sent, cp)
	if f.err != nil {
		return kv.Response{}, f.err
	}
	if f.objStatus != 0 {
		return kv.Response{Status: f.objStatus, Error: f.objError, Leader: "n2"}, nil
	}
	f.index++
	m, err := model.Parse("model.yaml", []byte(f.st.Revisions[len(f.st.Revisions)-1].Source))
	if err != nil {
		return kv.Response{}, err
	}
	t, ok := m.Type(o.Type)
	if !ok {
		return kv.Response{Status: kv.StatusInvalid, Error: fmt.Sprintf("the model has no type %q", o.Type)}, nil
	}
	invalid := func(err error) (kv.Response, error) {
		return kv.Response{Status: kv.StatusInvalid, Error: err.Error()}, nil
	}
	upgrade := func(rec kv.ObjectRecord) (kv.ObjectRecord, error) {
		if rec.Version >= t.Latest() {
			return rec, nil
		}
		obj, err := model.Decode(rec.Value)
		if err == nil {
			obj, err = t.Upgrade(rec.Version, obj)
		}
		if err != nil {
			return rec, err
		}
		rec.Version, rec.Value = t.Latest(), model.Encode(obj)
		return rec, nil
	}
	// keep adds a replaced or deleted record to its object's history.
	keep := func(k [2]string, old kv.ObjectRecord) {
		h := append(f.history[k], old)
		f.history[k] = h[max(0, len(h)-t.History):]
	}
	switch req.Op {
	case kv.OpGetObject:
		resp := kv.Response{Status: kv.StatusOK, Index: f.index}
		if rec, ok := f.objects[[2]string{o.Type, o.PK}]; ok {
			up, err := upgrade(rec)
			if err != nil {
				return invalid(err)
			}
			resp.Value, resp.Object = kv.Some(""), &up
		}
		if o.History {
			for _, rec := range f.history[[2]string{o.Type, o.PK}] {
				if up, err := upgrade(rec); err == nil {
					rec = up
				}
				resp.History = append(resp.History, rec)
			}
		}
		return resp, nil
	case kv.OpDeleteObject:
		k := [2]string{o.Type, o.PK}
		rec, ok := f.objects[k]
		if msg := mismatch(o, ok, rec.Revision); msg != "" {
			return kv.Response{Status: kv.StatusMismatch, Error: msg, Index: f.index}, nil
		}
		if ok {
			keep(k, rec)
		}
		delete(f.objects, k)
		return kv.Response{Status: kv.StatusOK, Index: f.index, Object: &kv.ObjectRecord{Revision: rec.Revision}}, nil
	}
	v := o.Version
	if v == 0 {
		v = t.Latest()
	}
	obj, err := t.Validate(v, o.Value)
	if err == nil {
		obj, err = t.Upgrade(v, obj)
	}
	if err != nil {
		return invalid(err)
	}
	pk, err := t.PrimaryKey(obj)
	if err != nil {
		return invalid(err)
	}
	if route, err := t.RouteKey(pk); err != nil || route != req.Key {
		return invalid(fmt.Errorf("the object routes by %q, the request was routed by %q", route, req.Key))
	}
	old, ok := f.objects[[2]string{o.Type, pk}]
	if msg := mismatch(o, ok, old.Revision); msg != "" {
		return kv.Response{Status: kv.StatusMismatch, Error: msg, Index: f.index}, nil
	}
	rec := kv.ObjectRecord{Type: t.Name, PK: pk, Version: t.Latest(), Revision: f.index, Value: model.Encode(obj)}
	if ok {
		keep([2]string{o.Type, pk}, old)
	}
	f.objects[[2]string{o.Type, pk}] = rec
	return kv.Response{Status: kv.StatusOK, Index: f.index, Object: &kv.ObjectRecord{Revision: rec.Revision}}, nil
}

// mismatch is the state machine's answer to a write's conditions
// (kv.objectMismatch).
func mismatch(o kv.ObjectRequest, exists bool, cur uint64) string {
	switch {
	case o.IfAbsent && exists:
		return fmt.Sprintf("an object exists (revision %d)", cur)
	case o.IfRevision != 0 && !exists:
		return fmt.Sprintf("no object, expected revision %d", o.IfRevision)
	case o.IfRevision != 0 && cur != o.IfRevision:
		return fmt.Sprintf("revision %d, expected %d", cur, o.IfRevision)
	}
	return ""
}

// The example objects, written at Customer version 1 and Order version 1,
// and the Customer as versions 2 and 3 of the example models show it.
const (
	customerV1 = `{"id":"c1","name":"Ada Lovelace","email":"ada@example.com","created":"2024-01-02T03:04:05+01:00"}`
	customerV2 = `{"created":"2024-01-02T02:04:05Z","email":"ada@example.com","first_name":"Ada","id":"c1","last_name":"Lovelace","newsletter":false,"tier":"basic"}`
	customerV3 = `{"created":"2024-01-02T02:04:05Z","email":"ada@example.com","id":"c1","level":"basic","name":"Ada Lovelace","phone":null}`
	orderV1    = `{"id":"o1","customer_id":"c1","placed":"2024-01-02T03:04:05Z","status":"open",` +
		`"lines":[{"sku":"p1","quantity":2,"unit_price":"9.95"}],"total":"19.90","note":null,` +
		`"shipping_address":{"street":"Main 1","city":"Delft","zip":"2611AA"}}`
)

// enc is a key as the model encodes it.
func enc(values ...any) string { return model.EncodeKey(values...) }

// callWith is call with request headers.
func callWith(t *testing.T, srv *httptest.Server, method, path string, header map[string]string, body string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: withoutCode(t, resp.StatusCode, strings.TrimSuffix(string(b), "\n"))}
}

// wantObjectSent checks the last object request the backend received.
func wantObjectSent(op kv.Op, route string, o kv.ObjectRequest) func(t *testing.T, f *fakeModels) {
	return func(t *testing.T, f *fakeModels) {
		t.Helper()
		got, ok := f.lastSent()
		if !ok {
			t.Fatalf("the backend got no object request, want a %s", op)
		}
		if got.Op != op || got.Key != route || got.Stale || got.Object.Type != o.Type || got.Object.PK != o.PK ||
			got.Object.Version != o.Version || string(got.Object.Value) != string(o.Value) ||
			got.Object.IfRevision != o.IfRevision || got.Object.IfAbsent != o.IfAbsent {
			t.Errorf("the backend got %s key %q %+v (value %s),\nwant %s key %q %+v (value %s)",
				got.Op, got.Key, *got.Object, got.Object.Value, op, route, o, o.Value)
		}
	}
}

func wantNothingSent(t *testing.T, f *fakeModels) {
	t.Helper()
	if got, ok := f.lastSent(); ok {
		t.Errorf("the backend got a %s, want nothing", got.Op)
	}
}

func TestModelAPI(t *testing.T) {
	bigModel := "# " + strings.Repeat("x", DefaultMaxBody) + "\n" + string(examples.Model)
	stored := func(f *fakeModels) {
		// Customer c1 as it was stored at revision 7 under model.yaml.
		f.objects[[2]string{"Customer", enc("c1")}] = kv.ObjectRecord{Type: "Customer", PK: enc("c1"), Version: 2, Revision: 7, Value: []byte(customerV2)}
		f.index = 7
	}
	gold := strings.Replace(customerV2, `"tier":"basic"`, `"tier":"gold"`, 1)
	// Customer c1's previous versions: revision 2 stored at version 1 in a
	// shape that does not upgrade (its name is no string), revision 3 at
	// version 1, revision 5 at version 2.
	withHistory := func(f *fakeModels) {
		f.history[[2]string{"Customer", enc("c1")}] = []kv.ObjectRecord{
			{Type: "Customer", PK: enc("c1"), Version: 1, Revision: 2, Value: []byte(`{"id":"c1","name":5}`)},
			{Type: "Customer", PK: enc("c1"), Version: 1, Revision: 3, Value: []byte(customerV1)},
			{Type: "Customer", PK: enc("c1"), Version: 2, Revision: 5, Value: []byte(gold)},
		}
		f.index = 7
	}
	historyBody := `{"type":"Customer","key":"c1","history":[{"version":1,"revision":2,"object":{"id":"c1","name":5}},` +
		`{"version":2,"revision":3,"object":` + customerV2 + `},{"version":2,"revision":5,"object":` + gold + `}`
	wantHistorySent := func(route string, pk string, stale bool) func(t *testing.T, f *fakeModels) {
		return func(t *testing.T, f *fakeModels) {
			t.Helper()
			got, ok := f.lastSent()
			if !ok || got.Op != kv.OpGetObject || got.Key != route || got.Stale != stale || got.Object.Type != "Customer" ||
				got.Object.PK != pk || !got.Object.History {
				t.Errorf("the backend got %+v (object %+v), want a get-object of Customer %q with history routed by %q, stale %v", got, got.Object, pk, route, stale)
			}
		}
	}
	tests := []struct {
		name         string
		models       [][]byte // the accepted revisions (model.yaml if nil)
		plain        bool     // a backend that is no ModelBackend
		setup        func(f *fakeModels)
		timeout      time.Duration
		maxBody      int64
		method, path string
		header       map[string]string // of the request
		body         string
		status       int
		want         string // the exact body, or with wantPrefix its start
		wantPrefix   bool
		wantHeader   map[string]string
		sent         func(t *testing.T, f *fakeModels)
	}{
		// GET /v1/model
		{name: "model", method: "GET", path: "/v1/model",
			status: 200, want: `{"revision":1,"digest":"6045f30673ce05ee","model":{"types":[{"name":"Customer","key":["id"],"affinity":"id","history":3,"latest":2,`, wantPrefix: true},
		{name: "model of the second revision", models: [][]byte{examples.Model, examples.ModelNext}, method: "GET", path: "/v1/model",
			status: 200, want: `{"revision":2,"digest":"9dffca86dc7dfd5c","model":{"types":[{"name":"Customer","key":["id"],"affinity":"id","history":3,"latest":3,`, wantPrefix: true},
		{name: "model as YAML", method: "GET", path: "/v1/model?format=yaml",
			status: 200, want: strings.TrimSuffix(string(examples.Model), "\n"), wantHeader: map[string]string{"Content-Type": "application/yaml"}},
		{name: "model in an unknown format", method: "GET", path: "/v1/model?format=xml",
			status: 400, want: `{"error":"format \"xml\": want json or yaml"}`},
		{name: "no model yet", models: [][]byte{}, method: "GET", path: "/v1/model",
			status: 404, want: `{"error":"the cluster has no data model yet: PUT /v1/model"}`},
		{name: "model unavailable", setup: func(f *fakeModels) { f.modelsErr = fmt.Errorf("%w: %w", ErrUnavailable, ErrNotFormed) }, method: "GET", path: "/v1/model",
			status: 503, want: `{"error":"unavailable, nothing was done: ` + ErrNotFormed.Error() + `"}`, wantHeader: map[string]string{"Retry-After": "1"}},
		{name: "model of a node without models", plain: true, method: "GET", path: "/v1/model",
			status: 501, want: `{"error":"this node serves no data model"}`},
		{name: "a method not allowed on the model", method: "POST", path: "/v1/model",
			status: 405, want: `{"error":"POST /v1/model: method not allowed (allowed: GET, HEAD, PUT)"}`, wantHeader: map[string]string{"Allow": "GET, HEAD, PUT"}},

		// GET /v1/model/versions
		{name: "versions", models: [][]byte{examples.Model, examples.ModelNext}, method: "GET", path: "/v1/model/versions",
			status: 200, want: `{"revisions":[{"revision":1,"digest":"6045f30673ce05ee"},{"revision":2,"digest":"9dffca86dc7dfd5c"}]}`},
		{name: "versions with a change pending and one refused", setup: func(f *fakeModels) {
			f.st.Pending = &ModelRevision{Revision: 3, Digest: "00000000000000aa", Source: "types: {}", Votes: []string{"rs1"}}
			f.st.LastAbort = &ModelAbort{Revision: 2, Reason: "rs2: unknown migration func \"fix\""}
		}, method: "GET", path: "/v1/model/versions",
			status: 200, want: `{"revisions":[{"revision":1,"digest":"6045f30673ce05ee"}],"pending":{"revision":3,"digest":"00000000000000aa","votes":["rs1"]},` +
				`"last_abort":{"revision":2,"reason":"rs2: unknown migration func \"fix\""}}`},
		{name: "versions without a model", models: [][]byte{}, method: "GET", path: "/v1/model/versions",
			status: 200, want: `{"revisions":[]}`},
		{name: "versions of a node without models", plain: true, method: "GET", path: "/v1/model/versions",
			status: 501, want: `{"error":"this node serves no data model"}`},
		{name: "versions unavailable", setup: func(f *fakeModels) { f.modelsErr = ErrUnavailable }, method: "GET", path: "/v1/model/versions",
			status: 503, want: `{"error":"unavailable, nothing was done"}`},

		// PUT /v1/model
		{name: "put a model", models: [][]byte{}, method: "PUT", path: "/v1/model", header: map[string]string{"Content-Type": "application/yaml"}, body: string(examples.Model),
			status: 200, want: `{"revision":1}`,
			sent: func(t *testing.T, f *fakeModels) {
				if len(f.proposed) != 1 || string(f.proposed[0]) != string(examples.Model) {
					t.Errorf("proposed %d models, want model.yaml once", len(f.proposed))
				}
			}},
		{name: "put a successor as curl -d sends it", method: "PUT", path: "/v1/model", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body: string(examples.ModelNext),
			status: 200, want: `{"revision":2}`},
		{name: "put a model as JSON", models: [][]byte{}, method: "PUT", path: "/v1/model", header: map[string]string{"Content-Type": "application/json"},
			body:   `{"types": {"Note": {"key": ["id"], "versions": [{"version": 1, "fields": {"id": "string"}}]}}}`,
			status: 200, want: `{"revision":1}`},
		{name: "put an invalid model", method: "PUT", path: "/v1/model",
			body:   "types:\n  Customer:\n    key: [id]\n    versions:\n      - version: 1\n        fields:\n          id: strng\n",
			status: 400, want: `{"error":"model.yaml:7: types.Customer.versions[0].fields.id: unknown field type \"strng\" (did you mean string?)"}`,
			sent: func(t *testing.T, f *fakeModels) {
				if len(f.proposed) != 0 {
					t.Errorf("an invalid model was proposed")
				}
			}},
		{name: "put an empty model", method: "PUT", path: "/v1/model",
			status: 400, want: `{"error":"model.yaml:1: the file is empty"}`},
		{name: "put a refused model", setup: func(f *fakeModels) {
			f.proposeErr = fmt.Errorf("%w: model: not a successor of revision 1: types.Order: the type is gone: a successor may not remove a type", ErrModelRefused)
		}, method: "PUT", path: "/v1/model", body: string(examples.ModelNext),
			status: 422, want: `{"error":"model refused: model: not a successor of revision 1: types.Order: the type is gone: a successor may not remove a type"}`},
		{name: "put a model undecided", setup: func(f *fakeModels) {
			f.proposeErr = fmt.Errorf("%w: group 0 did not decide the model in time", ErrUnknownOutcome)
		}, method: "PUT", path: "/v1/model", body: string(examples.ModelNext),
			status: 504, want: `{"error":"the outcome is unknown: the request may or may not have taken effect: group 0 did not decide the model in time"}`},
		{name: "cancel a pending change", setup: func(f *fakeModels) { f.st.Pending = &ModelRevision{Revision: 2, Digest: "d"} },
			method: "DELETE", path: "/v1/model/pending?revision=2", status: 200, want: `{"cancelled":2}`},
		{name: "cancel another revision", setup: func(f *fakeModels) { f.st.Pending = &ModelRevision{Revision: 2, Digest: "d"} },
			method: "DELETE", path: "/v1/model/pending?revision=3",
			status: 409, want: `{"error":"model refused: model: no change to revision 3 is pending"}`},
		{name: "cancel without a revision", method: "DELETE", path: "/v1/model/pending",
			status: 400, want: `{"error":"revision: want once the revision of the pending change, such as ?revision=2"}`},
		{name: "cancel revision zero", method: "DELETE", path: "/v1/model/pending?revision=0",
			status: 400, want: `{"error":"revision: want once the revision of the pending change, such as ?revision=2"}`},
		{name: "cancel undecided", setup: func(f *fakeModels) {
			f.proposeErr = fmt.Errorf("%w: group 0 did not take the cancellation in time", ErrUnknownOutcome)
		}, method: "DELETE", path: "/v1/model/pending?revision=2",
			status: 504, want: `{"error":"the outcome is unknown: the request may or may not have taken effect: group 0 did not take the cancellation in time"}`},
		{name: "put a model unavailable", setup: func(f *fakeModels) { f.proposeErr = fmt.Errorf("%w: the instance is stopping", ErrUnavailable) },
			method: "PUT", path: "/v1/model", body: string(examples.ModelNext),
			status: 503, want: `{"error":"unavailable, nothing was done: the instance is stopping"}`},
		{name: "put a model and the backend fails", setup: func(f *fakeModels) { f.proposeErr = errors.New("disk on fire") },
			method: "PUT", path: "/v1/model", body: string(examples.ModelNext),
			status: 500, want: `{"error":"internal error: disk on fire"}`},
		{name: "put a model as XML", method: "PUT", path: "/v1/model", header: map[string]string{"Content-Type": "application/xml"}, body: string(examples.ModelNext),
			status: 415, want: `{"error":"Content-Type \"application/xml\": want application/yaml"}`},
		{name: "put a model too large", method: "PUT", path: "/v1/model", body: bigModel,
			status: 413, want: `{"error":"request body exceeds 1048576 bytes"}`},
		{name: "put a model beyond the option's bound", maxBody: 100, method: "PUT", path: "/v1/model", body: string(examples.ModelNext),
			status: 413, want: `{"error":"request body exceeds 100 bytes"}`},
		{name: "put a model to a node without models", plain: true, method: "PUT", path: "/v1/model", body: string(examples.Model),
			status: 501, want: `{"error":"this node serves no data model"}`},

		// PUT /v1/data/{type}
		{name: "put a customer at version 1", method: "PUT", path: "/v1/data/Customer?version=1", body: customerV1,
			status: 200, want: `{"type":"Customer","key":"c1","version":2,"revision":1}`, wantHeader: map[string]string{"ETag": `"1"`},
			sent: wantObjectSent(kv.OpPutObject, "c1", kv.ObjectRequest{Type: "Customer", Version: 1, Value: []byte(customerV1)})},
		{name: "put a customer at the latest version", method: "PUT", path: "/v1/data/Customer", header: map[string]string{"Content-Type": "application/json"}, body: customerV2,
			status: 200, want: `{"type":"Customer","key":"c1","version":2,"revision":1}`,
			sent: wantObjectSent(kv.OpPutObject, "c1", kv.ObjectRequest{Type: "Customer", Version: 2, Value: []byte(customerV2)})},
		{name: "put an order: routed by its customer", method: "PUT", path: "/v1/data/Order", body: orderV1,
			status: 200, want: `{"type":"Order","key":"c1,o1","version":1,"revision":1}`,
			sent: wantObjectSent(kv.OpPutObject, "c1", kv.ObjectRequest{Type: "Order", Version: 1, Value: []byte(orderV1)})},
		{name: "put a shipment: a key of three fields", method: "PUT", path: "/v1/data/Shipment",
			body:   `{"order_id":"o1","seq":2,"customer_id":"c1","tracking":null,"carrier":"dhl","shipped":null,"weight_kg":1.5,"delivered":false}`,
			status: 200, want: `{"type":"Shipment","key":"c1,o1,2","version":1,"revision":1}`,
			sent: func(t *testing.T, f *fakeModels) {
				got, _ := f.lastSent()
				if got.Key != "c1" {
					t.Errorf("routed by %q, want c1", got.Key)
				}
			}},
		{name: "put a field of the wrong type", method: "PUT", path: "/v1/data/Customer?version=1", body: `{"id":"c1","name":5,"created":"2024-01-02T03:04:05Z"}`,
			status: 400, want: `{"error":"$.name: expected string, got number"}`, sent: wantNothingSent},
		{name: "put a nested field of the wrong type", method: "PUT", path: "/v1/data/Order", body: strings.Replace(orderV1, `"quantity":2`, `"quantity":"2"`, 1),
			status: 400, want: `{"error":"$.lines[0].quantity: expected integer, got string"}`},
		{name: "put an object missing a field", method: "PUT", path: "/v1/data/Customer?version=1", body: `{"id":"c1","created":"2024-01-02T03:04:05Z"}`,
			status: 400, want: `{"error":"$.name: required field missing"}`},
		{name: "put an unknown field", method: "PUT", path: "/v1/data/Customer?version=1", body: `{"id":"c1","name":"x","created":"2024-01-02T03:04:05Z","x":1}`,
			status: 400, want: `{"error":"$: unknown field \"x\" (one of id, name, email, created)"}`},
		{name: "put a version 2 object as version 1", method: "PUT", path: "/v1/data/Customer?version=1", body: customerV2,
			status: 400, want: `{"error":"$: unknown field \"first_name\" (one of id, name, email, created)"}`},
		{name: "put an array", method: "PUT", path: "/v1/data/Customer", body: `[]`,
			status: 400, want: `{"error":"$: expected object, got array"}`},
		{name: "put an empty body", method: "PUT", path: "/v1/data/Customer",
			status: 400, want: `{"error":"$: invalid JSON: unexpected end of input"}`},
		{name: "put an unknown version", method: "PUT", path: "/v1/data/Customer?version=3", body: customerV1,
			status: 400, want: `{"error":"version \"3\": Customer has versions 1 to 2"}`, sent: wantNothingSent},
		{name: "put version 0", method: "PUT", path: "/v1/data/Customer?version=0", body: customerV1,
			status: 400, want: `{"error":"version \"0\": Customer has versions 1 to 2"}`},
		{name: "put version one", method: "PUT", path: "/v1/data/Customer?version=one", body: customerV1,
			status: 400, want: `{"error":"version \"one\": Customer has versions 1 to 2"}`},
		{name: "put two versions", method: "PUT", path: "/v1/data/Customer?version=1&version=2", body: customerV1,
			status: 400, want: `{"error":"version: given 2 times, want once"}`},
		{name: "put a version of a type with one", method: "PUT", path: "/v1/data/Order?version=2", body: orderV1,
			status: 400, want: `{"error":"version \"2\": Order has version 1 only"}`},
		{name: "put an unknown type", method: "PUT", path: "/v1/data/Customr", body: customerV1,
			status: 404, want: `{"error":"the model has no type \"Customr\""}`},
		{name: "put without a model", models: [][]byte{}, method: "PUT", path: "/v1/data/Customer", body: customerV1,
			status: 404, want: `{"error":"the cluster has no data model yet: PUT /v1/model"}`},
		{name: "put to a node without models", plain: true, method: "PUT", path: "/v1/data/Customer", body: customerV1,
			status: 501, want: `{"error":"this node serves no data model"}`},
		{name: "put XML", method: "PUT", path: "/v1/data/Customer", header: map[string]string{"Content-Type": "application/xml"}, body: customerV2,
			status: 415, want: `{"error":"Content-Type \"application/xml\": want application/json"}`},
		{name: "put an object too large", method: "PUT", path: "/v1/data/Customer", body: `{"id":"` + strings.Repeat("x", DefaultMaxBody) + `"}`,
			status: 413, want: `{"error":"request body exceeds 1048576 bytes"}`},
		{name: "put a key too long to store", method: "PUT", path: "/v1/data/Customer?version=1",
			body:   `{"id":"` + strings.Repeat("k", kv.MaxPKLen) + `","name":"x","created":"2024-01-02T03:04:05Z"}`,
			status: 400, want: `{"error":"$: the key (id) is 4099 bytes encoded, over 4096"}`, sent: wantNothingSent},
		{name: "put an index key too long to store", method: "PUT", path: "/v1/data/Customer?version=1",
			body:   `{"id":"c1","name":"x","email":"` + strings.Repeat("e", kv.MaxIndexKeyLen) + `","created":"2024-01-02T03:04:05Z"}`,
			status: 400, want: `{"error":"$: index by_email (email): the key is 4099 bytes encoded, over 4096"}`, sent: wantNothingSent},
		{name: "put if absent", method: "PUT", path: "/v1/data/Customer?version=1", header: map[string]string{"If-None-Match": "*"}, body: customerV1,
			status: 200, want: `{"type":"Customer","key":"c1","version":2,"revision":1}`,
			sent: wantObjectSent(kv.OpPutObject, "c1", kv.ObjectRequest{Type: "Customer", Version: 1, Value: []byte(customerV1), IfAbsent: true})},
		{name: "put if absent over an object", setup: stored, method: "PUT", path: "/v1/data/Customer?version=1", header: map[string]string{"If-None-Match": "*"}, body: customerV1,
			status: 412, want: `{"error":"precondition failed: an object exists (revision 7)"}`},
		{name: "put if it matches", setup: stored, method: "PUT", path: "/v1/data/Customer?version=1", header: map[string]string{"If-Match": `"7"`}, body: customerV1,
			status: 200, want: `{"type":"Customer","key":"c1","version":2,"revision":8}`, wantHeader: map[string]string{"ETag": `"8"`},
			sent: wantObjectSent(kv.OpPutObject, "c1", kv.ObjectRequest{Type: "Customer", Version: 1, Value: []byte(customerV1), IfRevision: 7})},
		{name: "put if it matches, unquoted", setup: stored, method: "PUT", path: "/v1/data/Customer?version=1", header: map[string]string{"If-Match": `7`}, body: customerV1,
			status: 200, want: `{"type":"Customer","key":"c1","version":2,"revision":8}`},
		{name: "put if it matches another revision", setup: stored, method: "PUT", path: "/v1/data/Customer?version=1", header: map[string]string{"If-Match": `"6"`}, body: customerV1,
			status: 412, want: `{"error":"precondition failed: revision 7, expected 6"}`},
		{name: "put if a missing object matches", method: "PUT", path: "/v1/data/Customer?version=1", header: map[string]string{"If-Match": `"6"`}, body: customerV1,
			status: 412, want: `{"error":"precondition failed: no object, expected revision 6"}`},
		{name: "put with a bad If-Match", method: "PUT", path: "/v1/data/Customer?version=1", header: map[string]string{"If-Match": `W/"6"`}, body: customerV1,
			status: 400, want: `{"error":"If-Match \"W/\\\"6\\\"\": want an object's revision, such as \"42\""}`},
		{name: "put with If-Match 0", method: "PUT", path: "/v1/data/Customer?version=1", header: map[string]string{"If-Match": `"0"`}, body: customerV1,
			status: 400, want: `{"error":"If-Match \"\\\"0\\\"\": want an object's revision, such as \"42\""}`},
		{name: "put with a bad If-None-Match", method: "PUT", path: "/v1/data/Customer?version=1", header: map[string]string{"If-None-Match": `"6"`}, body: customerV1,
			status: 400, want: `{"error":"If-None-Match \"\\\"6\\\"\": only * is supported (the object must not exist)"}`},
		{name: "put with both conditions", method: "PUT", path: "/v1/data/Customer?version=1", header: map[string]string{"If-None-Match": "*", "If-Match": `"6"`}, body: customerV1,
			status: 400, want: `{"error":"If-Match and If-None-Match: give one (an object cannot both exist and not)"}`, sent: wantNothingSent},
		{name: "put a duplicate in a unique index", setup: func(f *fakeModels) {
			f.objStatus, f.objError = kv.StatusConflict, `index by_email: the key is held by another object`
		}, method: "PUT", path: "/v1/data/Customer?version=1", body: customerV1,
			status: 409, want: `{"error":"index by_email: the key is held by another object"}`},
		{name: "put and the leader finds it invalid", setup: func(f *fakeModels) { f.objStatus, f.objError = kv.StatusInvalid, `$.name: expected string, got number` },
			method: "PUT", path: "/v1/data/Customer?version=1", body: customerV1,
			status: 400, want: `{"error":"$.name: expected string, got number"}`},
		{name: "put and the backend redirects", setup: func(f *fakeModels) { f.objStatus = kv.StatusRedirect },
			method: "PUT", path: "/v1/data/Customer?version=1", body: customerV1,
			status: 503, want: `{"error":"unavailable, nothing was done (this node could not forward the request)"}`},
		{name: "put an object, outcome unknown", setup: func(f *fakeModels) { f.err = ErrUnknownOutcome },
			method: "PUT", path: "/v1/data/Customer?version=1", body: customerV1,
			status: 504, want: `{"error":"the outcome is unknown: the request may or may not have taken effect"}`},
		{name: "put an object past the timeout", setup: func(f *fakeModels) { f.block = true }, timeout: 20 * time.Millisecond,
			method: "PUT", path: "/v1/data/Customer?version=1", body: customerV1,
			status: 504, want: `{"error":"the outcome is unknown: the request may or may not have taken effect"}`},
		{name: "put an object unavailable", setup: func(f *fakeModels) { f.err = ErrUnavailable },
			method: "PUT", path: "/v1/data/Customer?version=1", body: customerV1,
			status: 503, want: `{"error":"unavailable, nothing was done"}`},
		{name: "put and the backend answers nonsense", setup: func(f *fakeModels) { f.objStatus = 99 },
			method: "PUT", path: "/v1/data/Customer?version=1", body: customerV1,
			status: 500, want: `{"error":"internal error: the backend answered a put-object with status99"}`},

		// GET /v1/data/{type}/{key}
		{name: "get a customer", setup: stored, method: "GET", path: "/v1/data/Customer/c1",
			status: 200, want: `{"type":"Customer","key":"c1","version":2,"revision":7,"object":` + customerV2 + `}`,
			wantHeader: map[string]string{"ETag": `"7"`, ConsistencyHeader: "linearizable"},
			sent:       wantObjectSent(kv.OpGetObject, "c1", kv.ObjectRequest{Type: "Customer", PK: enc("c1")})},
		{name: "get a customer upgraded", models: [][]byte{examples.Model, examples.ModelNext}, setup: stored, method: "GET", path: "/v1/data/Customer/c1",
			status: 200, want: `{"type":"Customer","key":"c1","version":3,"revision":7,"object":` + customerV3 + `}`},
		{name: "get stale", setup: stored, method: "GET", path: "/v1/data/Customer/c1?consistency=stale",
			status: 200, want: `{"type":"Customer","key":"c1","version":2,"revision":7,"object":` + customerV2 + `}`,
			wantHeader: map[string]string{ConsistencyHeader: "stale"},
			sent: func(t *testing.T, f *fakeModels) {
				if got, _ := f.lastSent(); !got.Stale || got.Op != kv.OpGetObject {
					t.Errorf("the backend got a %s, stale %t; want a stale get-object", got.Op, got.Stale)
				}
			}},
		{name: "get an unknown consistency", method: "GET", path: "/v1/data/Customer/c1?consistency=eventual",
			status: 400, want: `{"error":"consistency \"eventual\": want linearizable or stale"}`},
		{name: "get a missing customer", method: "GET", path: "/v1/data/Customer/c2",
			status: 404, want: `{"error":"Customer c2 not found"}`, wantHeader: map[string]string{ConsistencyHeader: "linearizable"}},
		{name: "get an order by its two key fields", method: "GET", path: "/v1/data/Order/c1,o1",
			status: 404, want: `{"error":"Order c1,o1 not found"}`,
			sent: wantObjectSent(kv.OpGetObject, "c1", kv.ObjectRequest{Type: "Order", PK: enc("c1", "o1")})},
		{name: "get an order whose id holds a comma", method: "GET", path: "/v1/data/Order/c1,o1,x",
			status: 404, want: `{"error":"Order c1,o1,x not found"}`,
			sent: wantObjectSent(kv.OpGetObject, "c1", kv.ObjectRequest{Type: "Order", PK: enc("c1", "o1,x")})},
		{name: "get a shipment", method: "GET", path: "/v1/data/Shipment/c1,o1,-2",
			status: 404, want: `{"error":"Shipment c1,o1,-2 not found"}`,
			sent: wantObjectSent(kv.OpGetObject, "c1", kv.ObjectRequest{Type: "Shipment", PK: enc("c1", "o1", int64(-2))})},
		{name: "get a key with a slash", method: "GET", path: "/v1/data/Customer/a%2Fb",
			status: 404, want: `{"error":"Customer a/b not found"}`,
			sent: wantObjectSent(kv.OpGetObject, "a/b", kv.ObjectRequest{Type: "Customer", PK: enc("a/b")})},
		{name: "get the key ..", method: "GET", path: "/v1/data/Customer/%2E%2E",
			status: 404, want: `{"error":"Customer .. not found"}`},
		{name: "get an order by half its key", method: "GET", path: "/v1/data/Order/c1",
			status: 400, want: `{"error":"key \"c1\" of Order: a key of Order is 2 values separated by commas, got 1"}`, sent: wantNothingSent},
		{name: "get a shipment by a bad number", method: "GET", path: "/v1/data/Shipment/c1,o1,x",
			status: 400, want: `{"error":"key \"c1,o1,x\" of Shipment: key of Shipment: \"x\" is not an integer"}`},
		{name: "get a key too long to store", method: "GET", path: "/v1/data/Customer/" + strings.Repeat("k", kv.MaxPKLen),
			status: 400, want: `{"error":"key \"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...\" of Customer: 4099 bytes encoded, over 4096"}`, sent: wantNothingSent},
		{name: "get an unknown type", method: "GET", path: "/v1/data/customer/c1",
			status: 404, want: `{"error":"the model has no type \"customer\""}`},
		{name: "get without a model", models: [][]byte{}, method: "GET", path: "/v1/data/Customer/c1",
			status: 404, want: `{"error":"the cluster has no data model yet: PUT /v1/model"}`},
		{name: "get from a node without models", plain: true, method: "GET", path: "/v1/data/Customer/c1",
			status: 501, want: `{"error":"this node serves no data model"}`},
		{name: "get unavailable", setup: func(f *fakeModels) { f.err = ErrUnavailable }, method: "GET", path: "/v1/data/Customer/c1",
			status: 503, want: `{"error":"unavailable, nothing was done"}`},
		{name: "get a stored object that does not upgrade", setup: func(f *fakeModels) { f.objStatus, f.objError = kv.StatusInvalid, "Customer c1: stored object: bad" },
			method: "GET", path: "/v1/data/Customer/c1",
			status: 500, want: `{"error":"internal error: the backend could not read Customer c1: Customer c1: stored object: bad"}`},
		{name: "get with a path too deep", method: "GET", path: "/v1/data/Customer/a/b",
			status: 404, want: `{"error":"path \"/v1/data/Customer/a/b\": no such endpoint (a key holding \"/\" must send it as %2F)"}`},
		{name: "get the key /", method: "GET", path: "/v1/data/Customer/%2F",
			status: 404, want: `{"error":"Customer / not found"}`,
			sent: wantObjectSent(kv.OpGetObject, "/", kv.ObjectRequest{Type: "Customer", PK: enc("/")})},
		{name: "post to a type", method: "POST", path: "/v1/data/Customer",
			status: 405, want: `{"error":"POST /v1/data/Customer: method not allowed (allowed: GET, HEAD, PUT)"}`, wantHeader: map[string]string{"Allow": "GET, HEAD, PUT"}},
		{name: "get an empty key", method: "GET", path: "/v1/data/Customer/",
			status: 404, want: `{"error":"path \"/v1/data/Customer/\": no such endpoint (a key holding \"/\" must send it as %2F)"}`},
		{name: "post to a key", method: "POST", path: "/v1/data/Customer/c1", body: customerV1,
			status: 405, want: `{"error":"POST /v1/data/Customer/c1: method not allowed (allowed: DELETE, GET, HEAD, PATCH, PUT)"}`},
		{name: "get with dot segments", method: "GET", path: "/v1/data/Customer/../Order/c1,o1",
			status: 400, want: `{"error":"path \"/v1/data/Customer/../Order/c1,o1\": has an empty, \".\" or \"..\" segment; a key holding \"/\" must send it as %2F, a key \".\" or \"..\" its dots as %2E"}`},

		// GET /v1/data/{type}/{key}/history
		{name: "history of a customer", setup: func(f *fakeModels) { stored(f); withHistory(f) }, method: "GET", path: "/v1/data/Customer/c1/history",
			status: 200, want: historyBody + `,{"version":2,"revision":7,"object":` + customerV2 + `}]}`,
			wantHeader: map[string]string{ConsistencyHeader: "linearizable"}, sent: wantHistorySent("c1", enc("c1"), false)},
		{name: "history of a deleted customer", setup: withHistory, method: "GET", path: "/v1/data/Customer/c1/history",
			status: 200, want: historyBody + `]}`},
		{name: "history of a customer without history", setup: stored, method: "GET", path: "/v1/data/Customer/c1/history",
			status: 200, want: `{"type":"Customer","key":"c1","history":[{"version":2,"revision":7,"object":` + customerV2 + `}]}`},
		{name: "history in the model's next shape", models: [][]byte{examples.Model, examples.ModelNext}, setup: stored, method: "GET", path: "/v1/data/Customer/c1/history",
			status: 200, want: `{"type":"Customer","key":"c1","history":[{"version":3,"revision":7,"object":` + customerV3 + `}]}`},
		{name: "stale history", setup: withHistory, method: "GET", path: "/v1/data/Customer/c1/history?consistency=stale",
			status: 200, want: historyBody + `]}`, wantHeader: map[string]string{ConsistencyHeader: "stale"}, sent: wantHistorySent("c1", enc("c1"), true)},
		{name: "history of a missing customer", method: "GET", path: "/v1/data/Customer/c2/history",
			status: 404, want: `{"error":"Customer c2 not found, and no history of it is kept"}`, sent: wantHistorySent("c2", enc("c2"), false)},
		{name: "history at an unknown consistency", method: "GET", path: "/v1/data/Customer/c1/history?consistency=strong",
			status: 400, want: `{"error":"consistency \"strong\": want linearizable or stale"}`, sent: wantNothingSent},
		{name: "history of the key /", method: "GET", path: "/v1/data/Customer/%2F/history",
			status: 404, want: `{"error":"Customer / not found, and no history of it is kept"}`, sent: wantHistorySent("/", enc("/"), false)},
		{name: "history of a key with a slash", method: "GET", path: "/v1/data/Customer/a%2Fb/history",
			status: 404, want: `{"error":"Customer a/b not found, and no history of it is kept"}`, sent: wantHistorySent("a/b", enc("a/b"), false)},
		{name: "history of the key history", method: "GET", path: "/v1/data/Customer/history/history",
			status: 404, want: `{"error":"Customer history not found, and no history of it is kept"}`, sent: wantHistorySent("history", enc("history"), false)},
		{name: "history of an order by half its key", method: "GET", path: "/v1/data/Order/c1/history",
			status: 400, want: `{"error":"key \"c1\" of Order: a key of Order is 2 values separated by commas, got 1"}`, sent: wantNothingSent},
		{name: "history of an unknown type", method: "GET", path: "/v1/data/Customr/c1/history",
			status: 404, want: `{"error":"the model has no type \"Customr\""}`},
		{name: "history without a model", models: [][]byte{}, method: "GET", path: "/v1/data/Customer/c1/history",
			status: 404, want: `{"error":"the cluster has no data model yet: PUT /v1/model"}`},
		{name: "history from a node without models", plain: true, method: "GET", path: "/v1/data/Customer/c1/history",
			status: 501, want: `{"error":"this node serves no data model"}`},
		{name: "history unavailable", setup: func(f *fakeModels) { f.err = ErrUnavailable }, method: "GET", path: "/v1/data/Customer/c1/history",
			status: 503, want: `{"error":"unavailable, nothing was done"}`},
		{name: "history of an object that does not upgrade", setup: func(f *fakeModels) { f.objStatus, f.objError = kv.StatusInvalid, "Customer c1: stored object: bad" },
			method: "GET", path: "/v1/data/Customer/c1/history",
			status: 500, want: `{"error":"internal error: the backend could not read Customer c1: Customer c1: stored object: bad"}`},
		{name: "delete a history", method: "DELETE", path: "/v1/data/Customer/c1/history",
			status: 405, want: `{"error":"DELETE /v1/data/Customer/c1/history: method not allowed (allowed: GET, HEAD)"}`},
		{name: "history with a path too deep", method: "GET", path: "/v1/data/Customer/c1/history/x",
			status: 404, want: `{"error":"path \"/v1/data/Customer/c1/history/x\": no such endpoint (a key holding \"/\" must send it as %2F)"}`},

		// DELETE /v1/data/{type}/{key}
		{name: "delete", setup: stored, method: "DELETE", path: "/v1/data/Customer/c1",
			status: 200, want: `{"type":"Customer","key":"c1","revision":7}`,
			sent: wantObjectSent(kv.OpDeleteObject, "c1", kv.ObjectRequest{Type: "Customer", PK: enc("c1")})},
		{name: "delete a missing object", method: "DELETE", path: "/v1/data/Customer/c1",
			status: 200, want: `{"type":"Customer","key":"c1"}`},
		{name: "delete an order", method: "DELETE", path: "/v1/data/Order/c1,o1",
			status: 200, want: `{"type":"Order","key":"c1,o1"}`,
			sent: wantObjectSent(kv.OpDeleteObject, "c1", kv.ObjectRequest{Type: "Order", PK: enc("c1", "o1")})},
		{name: "delete if it matches", setup: stored, method: "DELETE", path: "/v1/data/Customer/c1", header: map[string]string{"If-Match": `"7"`},
			status: 200, want: `{"type":"Customer","key":"c1","revision":7}`,
			sent: wantObjectSent(kv.OpDeleteObject, "c1", kv.ObjectRequest{Type: "Customer", PK: enc("c1"), IfRevision: 7})},
		{name: "delete if it matches another revision", setup: stored, method: "DELETE", path: "/v1/data/Customer/c1", header: map[string]string{"If-Match": `"8"`},
			status: 412, want: `{"error":"precondition failed: revision 7, expected 8"}`},
		{name: "delete if absent", method: "DELETE", path: "/v1/data/Customer/c1", header: map[string]string{"If-None-Match": "*"},
			status: 400, want: `{"error":"If-None-Match does not apply to a delete"}`, sent: wantNothingSent},
		{name: "delete by a bad key", method: "DELETE", path: "/v1/data/Order/c1",
			status: 400, want: `{"error":"key \"c1\" of Order: a key of Order is 2 values separated by commas, got 1"}`},
		{name: "delete an unknown type", method: "DELETE", path: "/v1/data/Nothing/c1",
			status: 404, want: `{"error":"the model has no type \"Nothing\""}`},
		{name: "delete, outcome unknown", setup: func(f *fakeModels) { f.err = ErrUnknownOutcome }, method: "DELETE", path: "/v1/data/Customer/c1",
			status: 504, want: `{"error":"the outcome is unknown: the request may or may not have taken effect"}`},
		{name: "delete from a node without models", plain: true, method: "DELETE", path: "/v1/data/Customer/c1",
			status: 501, want: `{"error":"this node serves no data model"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			models := tc.models
			if models == nil {
				models = [][]byte{examples.Model}
			}
			f := newFakeModels(models...)
			if tc.setup != nil {
				tc.setup(f)
			}
			var b Backend = f
			if tc.plain {
				b = f.fakeBackend
			}
			srv := httptest.NewServer(NewAPI(b, APIOptions{Logger: quiet, Timeout: tc.timeout, MaxBody: tc.maxBody}))
			defer srv.Close()
			got := callWith(t, srv, tc.method, tc.path, tc.header, tc.body)
			if got.status != tc.status || (tc.wantPrefix && !strings.HasPrefix(got.body, tc.want)) || (!tc.wantPrefix && got.body != tc.want) {
				t.Errorf("%s %s: got %d %s\nwant %d %s", tc.method, tc.path, got.status, got.body, tc.status, tc.want)
			}
			for k, v := range tc.wantHeader {
				if got.header.Get(k) != v {
					t.Errorf("header %s: got %q, want %q", k, got.header.Get(k), v)
				}
			}
			if _, ok := tc.wantHeader["Content-Type"]; !ok {
				if ct := got.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q, want application/json", ct)
				}
			}
			if tc.sent != nil {
				tc.sent(t, f)
			}
		})
	}
}

// TestModelAPISequence goes through a model's life on one backend: no
// model, the first, objects written at old versions, the successor, and
// the objects read back in each model's latest shape.
func TestModelAPISequence(t *testing.T) {
	srv := httptest.NewServer(NewAPI(newFakeModels(), APIOptions{Logger: quiet}))
	defer srv.Close()
	steps := []struct {
		method, path string
		header       map[string]string
		body         string
		status       int
		want         string
	}{
		{"GET", "/v1/data/Customer/c1", nil, "", 404, `{"error":"the cluster has no data model yet: PUT /v1/model"}`},
		{"PUT", "/v1/model", nil, string(examples.Model), 200, `{"revision":1}`},
		{"PUT", "/v1/data/Customer?version=1", map[string]string{"If-None-Match": "*"}, customerV1, 200, `{"type":"Customer","key":"c1","version":2,"revision":1}`},
		{"PUT", "/v1/data/Order", nil, orderV1, 200, `{"type":"Order","key":"c1,o1","version":1,"revision":2}`},
		{"PUT", "/v1/data/Customer?version=1", map[string]string{"If-None-Match": "*"}, customerV1, 412, `{"error":"precondition failed: an object exists (revision 1)"}`},
		{"GET", "/v1/data/Customer/c1", nil, "", 200, `{"type":"Customer","key":"c1","version":2,"revision":1,"object":` + customerV2 + `}`},
		{"GET", "/v1/data/Customer/c1/history", nil, "", 200, `{"type":"Customer","key":"c1","history":[{"version":2,"revision":1,"object":` + customerV2 + `}]}`},
		{"PUT", "/v1/model", nil, string(examples.ModelNext), 200, `{"revision":2}`},
		{"GET", "/v1/data/Customer/c1", nil, "", 200, `{"type":"Customer","key":"c1","version":3,"revision":1,"object":` + customerV3 + `}`},
		{"GET", "/v1/data/Order/c1,o1", nil, "", 200, `{"type":"Order","key":"c1,o1","version":2,"revision":2,"object":` +
			`{"customer_id":"c1","id":"o1","lines":[{"quantity":2,"sku":"p1","unit_price":"9.95"}],"placed":"2024-01-02T03:04:05Z","remark":null,` +
			`"shipping_address":{"city":"Delft","country":"NL","phone":null,"postcode":"2611AA","street":"Main 1"},"status":"open","total":19.9}}`},
		{"PUT", "/v1/data/Customer?version=1", map[string]string{"If-Match": `"1"`}, customerV1, 200, `{"type":"Customer","key":"c1","version":3,"revision":8}`},
		{"DELETE", "/v1/data/Customer/c1", map[string]string{"If-Match": `"1"`}, "", 412, `{"error":"precondition failed: revision 8, expected 1"}`},
		{"DELETE", "/v1/data/Customer/c1", map[string]string{"If-Match": `"8"`}, "", 200, `{"type":"Customer","key":"c1","revision":8}`},
		{"GET", "/v1/data/Customer/c1", nil, "", 404, `{"error":"Customer c1 not found"}`},
		// The deleted customer's previous versions, in the latest shape:
		// revision 1 was stored at version 2, revision 8 at version 3.
		{"GET", "/v1/data/Customer/c1/history?consistency=stale", nil, "", 200, `{"type":"Customer","key":"c1","history":[` +
			`{"version":3,"revision":1,"object":` + customerV3 + `},{"version":3,"revision":8,"object":` + customerV3 + `}]}`},
		{"GET", "/v1/data/Customer/c2/history", nil, "", 404, `{"error":"Customer c2 not found, and no history of it is kept"}`},
		{"GET", "/v1/model/versions", nil, "", 200, `{"revisions":[{"revision":1,"digest":"6045f30673ce05ee"},{"revision":2,"digest":"9dffca86dc7dfd5c"}]}`},
	}
	for _, s := range steps {
		got := callWith(t, srv, s.method, s.path, s.header, s.body)
		if got.status != s.status || got.body != s.want {
			t.Fatalf("%s %s: got %d %s\nwant %d %s", s.method, s.path, got.status, got.body, s.status, s.want)
		}
	}
}

// FuzzObjectBody: whatever the body and ?version, PUT
// /v1/data/Customer answers 2xx or 4xx in JSON, and what it accepts
// reaches the backend routed by the object's id.
func FuzzObjectBody(f *testing.F) {
	for _, s := range []string{
		customerV1, customerV2, `{"id":"c1","name":5}`, `{"id":1}`, `{"id":null}`, `{}`, `[]`, ``, `null`, customerV1 + ` x`,
		`{"id":"c1","id":"c2"}`, "\xff", `{"id":"c1","name":"Ada","created":"2024-13-01T00:00:00Z"}`,
		`{"id":"a,b","first_name":"","last_name":"","created":"2024-01-02T03:04:05Z","tier":"gold","newsletter":true,"email":null}`,
		`{"id":"` + strings.Repeat("x", 5000) + `","name":"x","created":"2024-01-02T03:04:05Z"}`,
	} {
		for _, v := range []string{"", "1", "2", "3", "0", "-1", "x", "1e1", " 1"} {
			f.Add([]byte(s), v)
		}
	}
	fm := newFakeModels(examples.Model)
	h := NewAPI(fm, APIOptions{Logger: quiet, MaxBody: 16 << 10})
	m, err := model.Parse("model.yaml", examples.Model)
	if err != nil {
		f.Fatal(err)
	}
	customer, _ := m.Type("Customer")
	f.Fuzz(func(t *testing.T, body []byte, version string) {
		u := &url.URL{Path: "/v1/data/Customer", RawQuery: url.Values{"version": {version}}.Encode()}
		rec := serveDirect(h, "PUT", u, "", body)
		got := checkAnswer(t, fmt.Sprintf("PUT %s %q", u, body), rec)
		if rec.Code != 200 {
			return
		}
		sent, _ := fm.lastSent()
		v := sent.Object.Version
		obj, err := customer.Validate(v, body)
		if err != nil {
			t.Fatalf("accepted %q at version %d, which does not validate: %v", body, v, err)
		}
		if sent.Key != obj["id"] || got["key"] != obj["id"] {
			t.Fatalf("accepted %q: routed by %q, answered key %v; want the id %q", body, sent.Key, got["key"], obj["id"])
		}
	})
}

// FuzzObjectPath: whatever the type and key segments, the data endpoints
// answer 2xx or 4xx in JSON, and a key of the example types reaches the
// backend as ParseKey reads it, routed by its affinity value.
func FuzzObjectPath(f *testing.F) {
	for _, s := range [][2]string{
		{"Customer", "c1"}, {"Order", "c1,o1"}, {"Order", "c1"}, {"Shipment", "c1,o1,2"}, {"Shipment", "c1,o1,x"},
		{"Customer", "/"}, {"Customer", "a/b"}, {"Customer", ".."}, {"Customer", ""}, {"", "c1"}, {"Cust/omer", "c1"},
		{"Customer", "%"}, {"Customer", "\xff"}, {"Customer", "a b?#"}, {"Product", "\x00"}, {"..", ".."},
		{"Customer", "c1/history"}, {"Customer", "history"}, {"Customer", "//history"}, {"Order", "c1,o1/history/x"},
	} {
		f.Add(s[0], s[1])
	}
	// fakeData serves GET /v1/data/{type} too, a listing.
	fd := newFakeData()
	fm := fd.fakeModels
	h := NewAPI(fd, APIOptions{Logger: quiet})
	m, err := model.Parse("model.yaml", examples.Model)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, typ, key string) {
		// As escaped path segments: a known type's key reaches the
		// backend intact.
		p := "/v1/data/" + segment(typ) + "/" + segment(key)
		u, err := url.ParseRequestURI(p)
		if err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		hu, err := url.ParseRequestURI(p + "/history")
		if err != nil {
			t.Fatalf("%q: %v", p+"/history", err)
		}
		for _, c := range []struct {
			method  string
			u       *url.URL
			history bool
		}{{"GET", u, false}, {"DELETE", u, false}, {"GET", hu, true}} {
			what := c.method + " " + c.u.EscapedPath()
			before := len(fm.sent)
			rec := serveDirect(h, c.method, c.u, "", nil)
			checkAnswer(t, what, rec)
			ty, known := m.Type(typ)
			if !known || key == "" {
				continue
			}
			pk, err := ty.ParseKey(key)
			if err != nil || len(pk) > kv.MaxPKLen {
				if rec.Code != 400 {
					t.Fatalf("%s: %d %s, want 400", what, rec.Code, rec.Body)
				}
				continue
			}
			route, _ := ty.RouteKey(pk)
			fm.mu.Lock()
			n := len(fm.sent)
			last := fm.sent[n-1]
			fm.mu.Unlock()
			if n != before+1 || last.Object.Type != typ || last.Object.PK != pk || last.Key != route || last.Object.History != c.history {
				t.Fatalf("%s: %d %s; the backend got %s %q %q routed by %q (history %v), want %q %q routed by %q (history %v)",
					what, rec.Code, rec.Body, last.Op, last.Object.Type, last.Object.PK, last.Key, last.Object.History, typ, pk, route, c.history)
			}
		}
		// As raw paths: whatever they are, an answer in JSON, never 5xx.
		for _, p := range []string{"/v1/data/" + typ + "/" + key, "/v1/data/" + typ, "/v1/" + typ + "/" + key, "/v1/data/" + typ + "/" + key + "/history"} {
			u, err := url.ParseRequestURI(p)
			if err != nil {
				continue
			}
			for _, method := range []string{"GET", "PUT", "DELETE"} {
				checkAnswer(t, method+" "+p, serveDirect(h, method, u, "", []byte(customerV1)))
			}
		}
	})
}

// segment escapes s as one path segment, its dots too when it is "." or
// "..", as KeyPath does.
func segment(s string) string {
	seg := url.PathEscape(s)
	if seg == "." || seg == ".." {
		seg = strings.ReplaceAll(seg, ".", "%2E")
	}
	return seg
}
