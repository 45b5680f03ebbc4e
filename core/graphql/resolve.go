package graphql

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/shoaldb/shoal/core/api"
	"github.com/shoaldb/shoal/core/model"
)

// resolve gives a field's value on its parent, uncompleted.
func (e *executor) resolve(parent any, f *ast.Field, path ast.Path) (any, error) {
	switch p := parent.(type) {
	case queryRoot:
		return e.resolveQuery(f)
	case mutationRoot:
		return e.resolveMutation(f)
	case *objValue:
		return e.resolveObject(p, f)
	case map[string]any: // a record
		return p[f.Name], nil
	case *histValue:
		switch f.Name {
		case "version":
			return p.st.Version, nil
		case "revision":
			return p.st.Revision, nil
		case "object":
			if p.st.Version != p.t.Latest() {
				return nil, nil
			}
			st := p.st
			st.Key = p.pk
			return &objValue{t: p.t, st: st}, nil
		}
	case *connValue:
		switch f.Name {
		case "edges":
			return p.edges, nil
		case "pageInfo":
			return p.page, nil
		}
	case edgeValue:
		switch f.Name {
		case "node":
			return p.node, nil
		case "cursor":
			return p.cursor, nil
		}
	case pageInfo:
		switch f.Name {
		case "hasNextPage":
			return p.hasNext, nil
		case "endCursor":
			if p.end == "" {
				return nil, nil
			}
			return p.end, nil
		}
	}
	return nil, fmt.Errorf("field %s is not served", f.Name)
}

func (e *executor) resolveQuery(f *ast.Field) (any, error) {
	switch f.Name {
	case "_sdl":
		if !e.rights.CanReadSchema() {
			return nil, codedf(CodeForbidden, "not allowed to read the schema")
		}
		return e.s.sdl, nil
	case "__schema", "__type":
		return nil, errors.New("introspection is not supported: the query _sdl gives the schema")
	}
	if t, ok := e.s.get[f.Name]; ok {
		if !e.rights.CanRead(t.Name) {
			return nil, codedf(CodeForbidden, "not allowed to read %s", t.Name)
		}
		pk, err := e.keyOf(t, e.args(f))
		if err != nil {
			return nil, err
		}
		st, found, err := e.get(t, pk)
		if err != nil || !found {
			return nil, err
		}
		return &objValue{t: t, st: st}, nil
	}
	if t, ok := e.s.list[f.Name]; ok {
		if !e.rights.CanRead(t.Name) {
			return nil, codedf(CodeForbidden, "not allowed to read %s", t.Name)
		}
		return e.connection(t, nil, e.args(f))
	}
	if svc, ok := e.s.services[f.Name]; ok && !svc.Mutation {
		return e.runService(svc, f)
	}
	return nil, fmt.Errorf("field %s is not served", f.Name)
}

// resolveObject gives a field of an object: a field of its type's latest
// version, a relation, _version, _revision or _history.
func (e *executor) resolveObject(o *objValue, f *ast.Field) (any, error) {
	t := o.t
	if !e.rights.CanRead(t.Name) || !e.rights.CanReadField(t.Name, f.Name) {
		return nil, codedf(CodeForbidden, "not allowed to read %s.%s", t.Name, f.Name)
	}
	switch f.Name {
	case "_version":
		return o.st.Version, nil
	case "_revision":
		return o.st.Revision, nil
	case "_history":
		if err := e.call(); err != nil {
			return nil, err
		}
		hist, err := e.data.History(t.Name, o.st.Key)
		if err != nil {
			return nil, fmt.Errorf("reading the history of %s %s: %w", t.Name, t.KeyString(o.st.Key), err)
		}
		if err := e.readObjects(len(hist)); err != nil {
			return nil, err
		}
		if len(hist) > max(t.History, 0) {
			hist = hist[len(hist)-t.History:]
		}
		out := make([]any, len(hist))
		for i, h := range hist {
			out[i] = &histValue{t: t, pk: o.st.Key, st: h}
		}
		return out, nil
	}
	for _, r := range t.Relations {
		if r.Name == f.Name {
			return e.relation(o, r, e.args(f))
		}
	}
	return o.st.Object[f.Name], nil
}

// relation resolves a relation of o: the objects of r.Type whose To
// fields equal o's From fields.
func (e *executor) relation(o *objValue, r model.Relation, args map[string]any) (any, error) {
	target, ok := e.m.Type(r.Type)
	if !ok {
		return nil, fmt.Errorf("relation %s: no type %s", r.Name, r.Type)
	}
	if !e.rights.CanRead(target.Name) {
		return nil, codedf(CodeForbidden, "not allowed to read %s", target.Name)
	}
	if err := e.checkRelation(o.t, r, target); err != nil {
		return nil, err
	}
	values := make([]any, len(r.From))
	null := false
	for i, from := range r.From {
		values[i] = o.st.Object[from]
		null = null || values[i] == nil
	}
	if r.Kind != model.OneToMany {
		if null {
			return nil, nil
		}
		if slices.Equal(sortedCopy(r.To), sortedCopy(target.Key)) {
			key := model.Object{}
			for i, to := range r.To {
				key[to] = values[i]
			}
			pk, err := target.PrimaryKey(key)
			if err != nil {
				return nil, fmt.Errorf("relation %s: %w", r.Name, err)
			}
			st, found, err := e.get(target, pk)
			if err != nil || !found {
				return nil, err
			}
			return &objValue{t: target, st: st}, nil
		}
		fs, err := eqFilters(target, r.To, values)
		if err != nil {
			return nil, fmt.Errorf("relation %s: %w", r.Name, err)
		}
		// Storage may answer a short page with More: ask on, as a
		// connection does, within its rounds.
		after := ""
		plan := api.Plan(target, fs, api.Order{})
		for range maxRounds {
			page, err := e.list(target, fs, plan, after, 1)
			if err != nil {
				return nil, err
			}
			if len(page.Items) > 0 {
				return &objValue{t: target, st: page.Items[0]}, nil
			}
			if !page.More {
				return nil, nil
			}
			after = page.Last
		}
		return nil, fmt.Errorf("relation %s: no %s found in %d pages, and more may follow", r.Name, target.Name, maxRounds)
	}
	if null {
		return &connValue{edges: []any{}}, nil
	}
	fs, err := eqFilters(target, r.To, values)
	if err != nil {
		return nil, fmt.Errorf("relation %s: %w", r.Name, err)
	}
	return e.connection(target, fs, args)
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// eqFilters are the filters fields[i] = values[i] on t.
func eqFilters(t *model.Type, fields []string, values []any) (api.Filters, error) {
	var fs api.Filters
	for i, name := range fields {
		text, err := valueText(values[i])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		f, err := parseFilter(t, []string{name}, "eq", text)
		if err != nil {
			return nil, err
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// get reads one object.
func (e *executor) get(t *model.Type, pk string) (Stored, bool, error) {
	if err := e.call(); err != nil {
		return Stored{}, false, err
	}
	st, found, err := e.data.Get(t.Name, pk)
	if err != nil {
		return Stored{}, false, fmt.Errorf("reading %s %s: %w", t.Name, t.KeyString(pk), err)
	}
	if found {
		st.Key = pk
		if err := e.readObjects(1); err != nil {
			return Stored{}, false, err
		}
	}
	return st, found, nil
}

// list reads one page and checks that it keeps Data's contract.
func (e *executor) list(t *model.Type, fs api.Filters, o api.Order, after string, limit int) (api.Page[Stored], error) {
	if err := e.call(); err != nil {
		return api.Page[Stored]{}, err
	}
	page, err := e.data.List(t.Name, fs, o, after, limit)
	if err != nil {
		return api.Page[Stored]{}, fmt.Errorf("listing %s: %w", t.Name, err)
	}
	if err := e.readObjects(len(page.Items)); err != nil {
		return api.Page[Stored]{}, err
	}
	prev := after
	for _, it := range page.Items {
		if o.Compare(it.Position, prev) <= 0 || o.Index == "" && it.Position != it.Key {
			return api.Page[Stored]{}, fmt.Errorf("listing %s: storage answered objects out of order", t.Name)
		}
		prev = it.Position
	}
	if len(page.Items) > limit || page.More && (o.Compare(page.Last, after) <= 0 || o.Compare(prev, page.Last) > 0) {
		return api.Page[Stored]{}, fmt.Errorf("listing %s: storage answered a page that breaks its contract", t.Name)
	}
	return page, nil
}

// keyOf reads the key arguments of a field into an encoded primary key.
func (e *executor) keyOf(t *model.Type, args map[string]any) (string, error) {
	latest := t.Versions[len(t.Versions)-1]
	obj := model.Object{}
	for _, name := range t.Key {
		f, _ := latest.Field(name)
		v, err := e.inputJSON(f.Type, args[name], name)
		if err != nil {
			return "", err
		}
		obj[name] = v
	}
	pk, err := t.PrimaryKey(obj)
	if err != nil {
		return "", fmt.Errorf("key of %s: %w", t.Name, err)
	}
	return pk, nil
}

// inputJSON turns an input value for a field of type ft into what a JSON
// decoder would give model.Type.Validate: integers become json.Number,
// records and arrays are walked, and everything else is left for the
// model to check.
func (e *executor) inputJSON(ft *model.FieldType, v any, path string) (any, error) {
	if v == nil {
		return nil, nil
	}
	if ft.Kind == model.Ref {
		_, keys := keyFields(e.m, ft)
		if len(keys) != 1 {
			return v, nil
		}
		ft = keys[0].Type
		return e.inputJSON(ft, v, path)
	}
	switch ft.Kind {
	case model.Int:
		i, ok := toInt64(v)
		if !ok {
			return nil, fmt.Errorf("%s: %s is not a 64-bit integer", path, describeInput(v))
		}
		return json.Number(strconv.FormatInt(i, 10)), nil
	case model.Float, model.Decimal:
		switch x := v.(type) {
		case int:
			return json.Number(strconv.Itoa(x)), nil
		case int64:
			return json.Number(strconv.FormatInt(x, 10)), nil
		}
	case model.Array:
		list, ok := v.([]any)
		if !ok {
			list = []any{v}
		}
		out := make([]any, len(list))
		for i, item := range list {
			x, err := e.inputJSON(ft.Elem, item, path+"["+strconv.Itoa(i)+"]")
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case model.Record:
		m, ok := v.(map[string]any)
		if !ok {
			return v, nil
		}
		out := make(map[string]any, len(m))
		for k, x := range m { //detlint:unordered each key is converted on its own; the first error is checked in field order below
			out[k] = x
		}
		for _, sub := range ft.Fields {
			if x, ok := m[sub.Name]; ok {
				y, err := e.inputJSON(sub.Type, x, path+"."+sub.Name)
				if err != nil {
					return nil, err
				}
				out[sub.Name] = y
			}
		}
		return out, nil
	}
	return v, nil
}

// describeInput writes an input value for a message.
func describeInput(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%T", v)
	}
	s := string(b)
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return s
}

// resolveMutation runs one mutation field.
func (e *executor) resolveMutation(f *ast.Field) (any, error) {
	var t *model.Type
	var run func(*model.Type, map[string]any) (any, error)
	if x, ok := e.s.insert[f.Name]; ok {
		t, run = x, e.insert
	} else if x, ok := e.s.put[f.Name]; ok {
		t, run = x, e.put
	} else if x, ok := e.s.update[f.Name]; ok {
		t, run = x, e.update
	} else if x, ok := e.s.remove[f.Name]; ok {
		t, run = x, e.delete
	} else if svc, ok := e.s.services[f.Name]; ok && svc.Mutation {
		return e.runService(svc, f)
	} else {
		return nil, fmt.Errorf("field %s is not served", f.Name)
	}
	if err := e.checkWrite(t, f); err != nil {
		return nil, err
	}
	return run(t, e.args(f))
}

// validate checks a whole object as the model's latest version.
func (e *executor) validate(t *model.Type, obj map[string]any) (model.Object, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("the object does not encode: %w", err)
	}
	return t.Validate(t.Latest(), data)
}

func (e *executor) insert(t *model.Type, args map[string]any) (any, error) {
	return e.store(t, args, Condition{IfAbsent: true})
}

// put stores the whole object, replacing what its key holds (REST's
// PUT): on condition of ifRevision when given.
func (e *executor) put(t *model.Type, args map[string]any) (any, error) {
	want, err := ifRevision(args)
	if err != nil {
		return nil, err
	}
	return e.store(t, args, Condition{IfRevision: want})
}

// store writes the object argument on condition cond.
func (e *executor) store(t *model.Type, args map[string]any, cond Condition) (any, error) {
	in, _ := args["object"].(map[string]any)
	latest := t.Versions[len(t.Versions)-1]
	raw := map[string]any{}
	for _, f := range latest.Fields {
		v, ok := in[f.Name]
		if !ok {
			continue
		}
		x, err := e.inputJSON(f.Type, v, "object."+f.Name)
		if err != nil {
			return nil, err
		}
		raw[f.Name] = x
	}
	obj, err := e.validate(t, raw)
	if err != nil {
		return nil, fmt.Errorf("object: %w", err)
	}
	pk, err := t.PrimaryKey(obj)
	if err != nil {
		return nil, fmt.Errorf("object: %w", err)
	}
	if err := e.call(); err != nil {
		return nil, err
	}
	st, err := e.data.Put(t.Name, pk, obj, cond)
	switch {
	case errors.Is(err, ErrCondition) && cond.IfAbsent:
		return nil, codedf(CodeConflict, "%s %s already exists", t.Name, t.KeyString(pk))
	case errors.Is(err, ErrCondition):
		return nil, codedf(CodePreconditionFailed, "%s %s does not have revision %d", t.Name, t.KeyString(pk), cond.IfRevision)
	}
	if err != nil {
		return nil, fmt.Errorf("writing %s %s: %w", t.Name, t.KeyString(pk), err)
	}
	st.Key = pk
	return &objValue{t: t, st: st}, nil
}

// ifRevision reads the ifRevision argument; 0 when absent.
func ifRevision(args map[string]any) (int64, error) {
	v, ok := args["ifRevision"]
	if !ok || v == nil {
		return 0, nil
	}
	r, ok := toInt64(v)
	if !ok || r < 1 {
		return 0, fmt.Errorf("ifRevision: %s is not a revision (a positive integer)", describeInput(v))
	}
	return r, nil
}

func (e *executor) update(t *model.Type, args map[string]any) (any, error) {
	pk, err := e.keyOf(t, args)
	if err != nil {
		return nil, err
	}
	want, err := ifRevision(args)
	if err != nil {
		return nil, err
	}
	patch, _ := args["patch"].(map[string]any)
	latest := t.Versions[len(t.Versions)-1]
	for attempt := 0; attempt < maxAttempts; attempt++ {
		st, found, err := e.get(t, pk)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, codedf(CodeNotFound, "%s %s does not exist", t.Name, t.KeyString(pk))
		}
		if want != 0 && st.Revision != want {
			return nil, codedf(CodePreconditionFailed, "%s %s has revision %d, not %d", t.Name, t.KeyString(pk), st.Revision, want)
		}
		raw := map[string]any{}
		for k, v := range st.Object { //detlint:unordered a copy
			raw[k] = v
		}
		for _, f := range latest.Fields {
			v, ok := patch[f.Name]
			if !ok || slices.Contains(t.Key, f.Name) {
				continue
			}
			x, err := e.inputJSON(f.Type, v, "patch."+f.Name)
			if err != nil {
				return nil, err
			}
			raw[f.Name] = mergePatch(raw[f.Name], x)
			if raw[f.Name] == nil {
				delete(raw, f.Name)
			}
		}
		obj, err := e.validate(t, raw)
		if err != nil {
			return nil, fmt.Errorf("patch: %w", err)
		}
		if npk, err := t.PrimaryKey(obj); err != nil || npk != pk {
			return nil, errors.New("patch: the key may not change")
		}
		if !e.blindPatch(t, patch) && string(model.Encode(obj)) == string(model.Encode(st.Object)) {
			return &objValue{t: t, st: st}, nil
		}
		if err := e.call(); err != nil {
			return nil, err
		}
		nst, err := e.data.Put(t.Name, pk, obj, Condition{IfRevision: st.Revision})
		if errors.Is(err, ErrCondition) {
			if want != 0 {
				return nil, codedf(CodePreconditionFailed, "%s %s changed: it no longer has revision %d", t.Name, t.KeyString(pk), want)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("writing %s %s: %w", t.Name, t.KeyString(pk), err)
		}
		nst.Key = pk
		return &objValue{t: t, st: nst}, nil
	}
	return nil, fmt.Errorf("%s %s changed %d times while it was updated: try again", t.Name, t.KeyString(pk), maxAttempts)
}

// mergePatch applies a JSON merge patch (RFC 7396) to a value.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	out := map[string]any{}
	if ok {
		for k, v := range t { //detlint:unordered a copy
			out[k] = v
		}
	}
	for k, v := range p { //detlint:unordered each key is merged on its own
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = mergePatch(out[k], v)
	}
	return out
}

func (e *executor) delete(t *model.Type, args map[string]any) (any, error) {
	pk, err := e.keyOf(t, args)
	if err != nil {
		return nil, err
	}
	want, err := ifRevision(args)
	if err != nil {
		return nil, err
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		st, found, err := e.get(t, pk)
		if err != nil || !found {
			return nil, err
		}
		if want != 0 && st.Revision != want {
			return nil, codedf(CodePreconditionFailed, "%s %s has revision %d, not %d", t.Name, t.KeyString(pk), st.Revision, want)
		}
		if err := e.call(); err != nil {
			return nil, err
		}
		found, err = e.data.Delete(t.Name, pk, Condition{IfRevision: st.Revision})
		if errors.Is(err, ErrCondition) {
			if want != 0 {
				return nil, codedf(CodePreconditionFailed, "%s %s changed: it no longer has revision %d", t.Name, t.KeyString(pk), want)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("deleting %s %s: %w", t.Name, t.KeyString(pk), err)
		}
		if !found {
			return nil, nil
		}
		return &objValue{t: t, st: st}, nil
	}
	return nil, fmt.Errorf("%s %s changed %d times while it was deleted: try again", t.Name, t.KeyString(pk), maxAttempts)
}

// valueText writes a stored or input scalar as a filter reads it from
// text.
func valueText(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case json.Number:
		return string(x), nil
	case nil:
		return "", errors.New("null is not a value to compare with")
	}
	return "", fmt.Errorf("%s is not a single value", describeInput(v))
}

// parseFilter makes one filter on the field at path through core/api's
// query parser, so that GraphQL and REST read values alike.
func parseFilter(t *model.Type, path []string, op, text string) (api.Filter, error) {
	name := strings.Join(path, ".") + "[" + op + "]"
	q, err := api.ParseQuery(t, map[string][]string{name: {text}})
	if err != nil {
		return api.Filter{}, err
	}
	if len(q.Filters) != 1 {
		return api.Filter{}, fmt.Errorf("filter %s: not one filter", name)
	}
	return q.Filters[0], nil
}
