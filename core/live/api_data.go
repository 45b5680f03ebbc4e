package live

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	query "github.com/shoaldb/shoal/core/api"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/model"
)

// The data API beyond one object by key (api_model.go):
//
//	GET   /v1/data/{type}?FILTERS&limit=N&after=CURSOR&consistency=stale   a page of the type's objects
//	PUT   /v1/data/{type}/{key}   store the body, whose key must be the path's
//	PATCH /v1/data/{type}/{key}   apply a JSON merge patch (RFC 7396) to the object
//
// core/api's package doc has the query syntax and what a listing
// guarantees.

// ListBody is the body of GET /v1/data/{type}: a page of objects in
// primary key order, and the cursor of the next page (none after the
// last). A page may hold fewer objects than its limit, none even, and
// still have a next: follow next until there is none.
type ListBody struct {
	Type  string       `json:"type"`
	Items []ObjectBody `json:"items"`
	Next  string       `json:"next,omitempty"`
}

// listObjects answers a page of a type's objects (listPage).
func (a *api) listObjects(w http.ResponseWriter, r *http.Request) error {
	t, err := a.objectType(r)
	if err != nil {
		return err
	}
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return apiErrorf(http.StatusBadRequest, "query %q: %v", r.URL.RawQuery, err)
	}
	q, err := query.ParseQuery(t, values)
	if err != nil {
		return apiErrorf(http.StatusBadRequest, "%s", err)
	}
	items, next, more, err := a.listPage(r, t, q.Filters, q.After, q.Limit, q.Stale)
	if err != nil {
		return err
	}
	out := ListBody{Type: t.Name, Items: make([]ObjectBody, 0, len(items))}
	for _, rec := range items {
		if !json.Valid(rec.Value) {
			// respond would fail to encode it: say which.
			return fmt.Errorf("the backend listed %s %s with revision %d not in JSON", t.Name, t.KeyString(rec.PK), rec.Revision)
		}
		out.Items = append(out.Items, ObjectBody{Type: t.Name, Key: t.KeyString(rec.PK), Version: rec.Version, Revision: rec.Revision,
			Object: json.RawMessage(rec.Value)})
	}
	if more {
		out.Next = q.Cursor(next)
	}
	setConsistency(w, q.Stale)
	respond(w, http.StatusOK, out)
	return nil
}

// listPage is one page of a listing of t's objects, for the REST listing
// and GraphQL alike: it asks every replicaset for its page of the objects
// that meet filters after the encoded key after, at most limit (at once,
// each a read of its own, stale if asked), and merges them (core/api's
// Merge). next is the key the listing continues after when more is set.
func (a *api) listPage(r *http.Request, t *model.Type, filters query.Filters, after string, limit int, stale bool) (
	items []kv.ObjectRecord, next string, more bool, err error) {
	names, err := a.replicasets(r)
	if err != nil {
		return nil, "", false, err
	}
	if len(names) == 0 {
		return nil, "", false, apiErrorf(http.StatusServiceUnavailable, "%s: the cluster has no replicaset yet", ErrUnavailable)
	}
	filter := filters.Encode()
	pages := make([]query.Page[kv.ObjectRecord], len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, rs := range names {
		wg.Go(func() {
			req := kv.Request{Op: kv.OpListObjects, Stale: stale, List: &kv.ListRequest{Replicaset: rs, Type: t.Name, Filter: filter,
				After: after, Limit: limit, Scan: query.ScanBound(limit), Version: t.Latest()}}
			resp, err := a.doObject(r, req, fmt.Sprintf("the objects of %s in replicaset %s", t.Name, rs))
			switch {
			case err != nil:
				errs[i] = err
			case resp.List == nil || resp.List.Replicaset != rs:
				errs[i] = fmt.Errorf("the backend answered a list-objects of replicaset %s with %+v", rs, resp.List)
			default:
				pages[i] = query.Page[kv.ObjectRecord]{Items: resp.List.Objects, More: resp.List.More, Last: resp.List.Last}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, "", false, err
		}
	}
	return query.Merge(after, limit, pages, func(rec kv.ObjectRecord) string { return rec.PK })
}

// putObjectAt stores the body as PUT /v1/data/{type} does, when its key
// is the path's.
func (a *api) putObjectAt(w http.ResponseWriter, r *http.Request) error {
	return a.writeObject(w, r, true)
}

// patchAttempts bounds the reads and writes of one PATCH whose object
// keeps changing under it.
const patchAttempts = 5

// patchObject applies the body, a JSON merge patch (RFC 7396), to the
// path's object: it reads the object, patches it, and writes the result
// on condition that the object still has the revision it read. A
// concurrent change makes it start again, at most patchAttempts times
// (then 409); with If-Match, the object must have that revision, and a
// change is 412 at once. A patch that would change nothing writes
// nothing. The answer is the object as patched.
func (a *api) patchObject(w http.ResponseWriter, r *http.Request) error {
	t, err := a.objectType(r)
	if err != nil {
		return err
	}
	pk, route, err := objectKey(r, t)
	if err != nil {
		return err
	}
	var cond kv.ObjectRequest
	if err := conditions(r, &cond); err != nil {
		return err
	}
	if cond.IfAbsent {
		return apiErrorf(http.StatusBadRequest, "If-None-Match does not apply to a patch: it changes an object that exists (PUT creates one)")
	}
	body, err := a.readRaw(w, r, "application/merge-patch+json", "application/json", "text/plain", "application/x-www-form-urlencoded")
	if err != nil {
		return err
	}
	if err := checkJSONObject(body); err != nil {
		return apiErrorf(http.StatusBadRequest, "request body: %s (a merge patch of an object is a JSON object)", err)
	}
	patch, err := decodeJSON(body)
	if err != nil {
		return apiErrorf(http.StatusBadRequest, "request body: %s", err)
	}
	what := t.Name + " " + t.KeyString(pk)
	for attempt := 1; ; attempt++ {
		resp, err := a.doObject(r, kv.Request{Op: kv.OpGetObject, Key: route, Object: &kv.ObjectRequest{Type: t.Name, PK: pk}}, what)
		if err != nil {
			return err
		}
		cur := resp.Object
		switch {
		case cur == nil && cond.IfRevision != 0:
			return apiErrorf(http.StatusPreconditionFailed, "precondition failed: no object, expected revision %d", cond.IfRevision)
		case cur == nil:
			return apiErrorf(http.StatusNotFound, "%s not found: a patch changes an object that exists (PUT creates one)", what)
		case cond.IfRevision != 0 && cur.Revision != cond.IfRevision:
			return apiErrorf(http.StatusPreconditionFailed, "precondition failed: revision %d, expected %d", cur.Revision, cond.IfRevision)
		case cur.Version < 1 || cur.Version > t.Latest():
			return apiErrorf(http.StatusServiceUnavailable, "%s: %s is at version %d of its type, which this node's model (versions 1 to %d) does not know yet",
				ErrUnavailable, what, cur.Version, t.Latest())
		}
		target, err := decodeJSON(cur.Value)
		if err != nil {
			return fmt.Errorf("the backend answered a get of %s with revision %d not in JSON: %w", what, cur.Revision, err)
		}
		merged, err := encodeJSON(mergePatch(target, patch))
		if err != nil {
			return err
		}
		obj, err := t.Validate(cur.Version, merged)
		if err != nil {
			return apiErrorf(http.StatusBadRequest, "the patched object: %s", err)
		}
		if err := sameKey(t, obj, pk, "the patched object"); err != nil {
			return err
		}
		value := model.Encode(obj)
		if err := checkBounds(t, cur.Version, obj, pk); err != nil {
			return err
		}
		out := ObjectBody{Type: t.Name, Key: t.KeyString(pk), Version: cur.Version, Revision: cur.Revision, Object: value}
		if !bytes.Equal(value, cur.Value) {
			put := kv.Request{Op: kv.OpPutObject, Key: route, Object: &kv.ObjectRequest{Type: t.Name, Version: cur.Version, Value: value,
				IfRevision: cur.Revision}}
			resp, err := a.doObject(r, put, what)
			if resp.Status == kv.StatusMismatch && cond.IfRevision == 0 {
				if attempt < patchAttempts {
					continue
				}
				return apiErrorf(http.StatusConflict, "%s changed %d times while it was patched: send the patch again", what, patchAttempts)
			}
			if err != nil {
				return err
			}
			if resp.Object != nil {
				out.Revision = resp.Object.Revision
			}
			if cur.Version != t.Latest() {
				// Stored upgraded, as the write's answer says.
				out.Version, out.Object = t.Latest(), nil
				if latest, err := t.Upgrade(cur.Version, obj); err == nil {
					out.Object = model.Encode(latest)
				}
			}
		}
		w.Header().Set("ETag", strconv.Quote(strconv.FormatUint(out.Revision, 10)))
		respond(w, http.StatusOK, out)
		return nil
	}
}

// sameKey checks that obj has the primary key pk, the path's.
func sameKey(t *model.Type, obj model.Object, pk, what string) error {
	got, err := t.PrimaryKey(obj)
	if err != nil {
		return apiErrorf(http.StatusBadRequest, "%s", err)
	}
	if got != pk {
		return apiErrorf(http.StatusBadRequest, "key %q in the path, but %s has key %q (%s): they must be the same",
			t.KeyString(pk), what, t.KeyString(got), strings.Join(t.Key, ", "))
	}
	return nil
}

// decodeJSON reads one JSON value, numbers as json.Number so that none
// loses digits on the way (a decimal, an int64).
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// encodeJSON writes what decodeJSON read, keys sorted.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// mergePatch applies a JSON merge patch to target (RFC 7396, section 2):
// an object patches member by member, null removing one; anything else
// replaces the target.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
		} else {
			t[k] = mergePatch(t[k], v)
		}
	}
	return t
}
