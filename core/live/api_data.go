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
//	GET   /v1/data/{type}?FILTERS&order=[-]INDEX&limit=N&after=CURSOR&consistency=stale   a page of the type's objects
//	PUT   /v1/data/{type}/{key}   store the body, whose key must be the path's
//	PATCH /v1/data/{type}/{key}   apply a JSON merge patch (RFC 7396) to the object
//
// core/api's package doc has the query syntax and what a listing
// guarantees.

// ListBody is the body of GET /v1/data/{type}: a page of objects in
// primary key order, or in the order of the index order= names (-INDEX
// reversed; the objects with a null in the index after the others, or
// before them reversed), and the cursor of the next page (none after
// the last). A page may hold fewer objects than its limit, none even, and
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
	read := fieldsOf(r, t, false)
	if err := read.checkFilters(q.Filters); err != nil {
		return err
	}
	if err := read.checkOrder(q.Order); err != nil {
		return err
	}
	items, next, more, err := a.listPage(r, t, q.Filters, q.Plan, q.After, q.Limit, q.Stale)
	if err != nil {
		return err
	}
	out := ListBody{Type: t.Name, Items: make([]ObjectBody, 0, len(items))}
	for _, rec := range items {
		value, err := read.trim(rec.Value)
		if err != nil || !json.Valid(value) {
			// respond would fail to encode it: say which.
			return fmt.Errorf("the backend listed %s %s with revision %d not in JSON", t.Name, t.KeyString(rec.PK), rec.Revision)
		}
		out.Items = append(out.Items, ObjectBody{Type: t.Name, Key: t.KeyString(rec.PK), Version: rec.Version, Revision: rec.Revision,
			Object: json.RawMessage(value)})
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
// that meet filters after the position after in the order o, at most
// limit (at once, each a read of its own, stale if asked), and merges
// them (core/api's Merge, by kv.ListOrder.Position). o is the order
// storage reads in, the plan (core/api's Plan): with o.Exact, each
// replicaset reads the entries of one key of an index rather than
// every object of the type. next is the
// position the listing continues after when more is set. In an index's
// order each item's Indexes hold the entry that placed it, if any. An
// after that is no position of o (a cursor forged or damaged, whose
// binding still matches) is refused with 400 before any replicaset is
// asked: each would refuse it as a request it cannot serve.
func (a *api) listPage(r *http.Request, t *model.Type, filters query.Filters, o query.Order, after string, limit int, stale bool) (
	items []kv.ObjectRecord, next string, more bool, err error) {
	order := listOrder(o)
	if order.CheckPosition(after) != nil {
		return nil, "", false, apiErrorf(http.StatusBadRequest, "%s: a damaged cursor: it holds no position in the order %s (pass a cursor as the listing gave it)",
			query.ParamAfter, o)
	}
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
				After: after, Limit: limit, Scan: query.ScanBound(limit), Version: t.Latest(), Index: o.Index, Desc: o.Desc, Exact: o.Exact, Key: o.Key}}
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
	return query.Merge(o.Desc, after, limit, pages, func(rec kv.ObjectRecord) string { return order.Position(&rec) },
		func(rec kv.ObjectRecord) string { return rec.PK })
}

// listOrder is storage's order of a listing's order or plan.
func listOrder(o query.Order) kv.ListOrder {
	return kv.ListOrder{Index: o.Index, Desc: o.Desc, Exact: o.Exact, Key: o.Key}
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
// nothing, unless the caller may not read a field it names (auth.go).
// A caller that writes some fields of the type only patches the object
// upgraded to the type's latest version, whose fields its rights name,
// and stores it so. The answer is the object as patched, with the
// fields the caller reads.
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
	members, _ := patch.(map[string]any)
	write := fieldsOf(r, t, true)
	if err := write.checkPatch(members); err != nil {
		return err
	}
	read := fieldsOf(r, t, false)
	blind := !read.hasEvery(members)
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
		version, base := cur.Version, cur.Value
		if !write.all && version != t.Latest() {
			// checkPatch took the patch's names as the latest version's:
			// applied to an older shape, one could write a field the
			// role does not (v1's name holds v2's last_name).
			obj, err := model.Decode(cur.Value)
			if err == nil {
				obj, err = t.Upgrade(cur.Version, obj)
			}
			if err != nil {
				return apiErrorf(http.StatusConflict, "%s is at version %d of its type, which does not upgrade to version %d: %s patches objects of the latest version only, as it writes some fields of %s only",
					what, cur.Version, t.Latest(), write.who, t.Name)
			}
			version, base = t.Latest(), model.Encode(obj)
		}
		target, err := decodeJSON(base)
		if err != nil {
			return fmt.Errorf("the backend answered a get of %s with revision %d not in JSON: %w", what, cur.Revision, err)
		}
		merged, err := encodeJSON(mergePatch(target, patch))
		if err != nil {
			return err
		}
		obj, err := t.Validate(version, merged)
		if err != nil {
			return apiErrorf(http.StatusBadRequest, "the patched object: %s", err)
		}
		if err := sameKey(t, obj, pk, "the patched object"); err != nil {
			return err
		}
		value := model.Encode(obj)
		if err := checkBounds(t, version, obj, pk); err != nil {
			return err
		}
		out := ObjectBody{Type: t.Name, Key: t.KeyString(pk), Version: version, Revision: cur.Revision, Object: value}
		if blind || version != cur.Version || !bytes.Equal(value, cur.Value) {
			put := kv.Request{Op: kv.OpPutObject, Key: route, Object: &kv.ObjectRequest{Type: t.Name, Version: version, Value: value,
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
			if version != t.Latest() {
				// Stored upgraded, as the write's answer says.
				out.Version, out.Object = t.Latest(), nil
				if latest, err := t.Upgrade(version, obj); err == nil {
					out.Object = model.Encode(latest)
				}
			}
		}
		if !read.any() {
			out.Object = nil
		} else if out.Object != nil {
			if out.Object, err = read.trim(out.Object); err != nil {
				return fmt.Errorf("the patched %s does not decode: %w", what, err)
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
