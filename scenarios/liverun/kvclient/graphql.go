package kvclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/simnet/client"
)

// Object operations through GraphQL (Config.GraphQL): a read is the
// lookup T(key...) selecting every field of the type's latest version
// with _version and _revision, a write putT(object:) with the object
// upgraded to the latest version, a delete deleteT(key...). They are
// recorded as the REST ones are, so the same checks judge them. Stale
// reads and history reads have no GraphQL form and go through REST.
//
// GraphQL answers 200 with errors where REST has a status: a read that
// errs changed nothing (refused, tried again elsewhere); a write that
// errs is unknown unless its error's extensions.code says it was not
// done (unavailable, busy, conflict, precondition_failed), since an
// error may come after the write reached the log.

// viaGraphQL reports whether op goes through GraphQL.
func (c *kvClient) viaGraphQL(op client.Op) bool {
	return c.cfg.GraphQL != nil && op.Object != nil && !op.Object.History && !op.Stale
}

// graphqlRequest builds op's request: POST /v1/graphql.
func graphqlRequest(ctx context.Context, base string, m *model.Model, op client.Op) (*http.Request, error) {
	t, ok := m.Type(op.Object.Type)
	if !ok {
		return nil, fmt.Errorf("the model has no type %s", op.Object.Type)
	}
	var q strings.Builder
	vars := map[string]any{}
	switch op.F {
	case kv.OpGetObject, kv.OpDeleteObject:
		key, ok := strings.CutPrefix(op.Label, t.Name+"/")
		if !ok {
			return nil, fmt.Errorf("the label %q does not name an object of type %s", op.Label, t.Name)
		}
		args, err := keyArguments(t, key)
		if err != nil {
			return nil, err
		}
		if op.F == kv.OpGetObject {
			fmt.Fprintf(&q, "{ %s(%s) ", t.Name, args)
		} else {
			fmt.Fprintf(&q, "mutation { delete%s(%s) ", t.Name, args)
		}
	case kv.OpPutObject:
		obj, err := model.Decode(op.Object.Value)
		if v := op.Object.Version; err == nil && v != 0 && v != t.Latest() {
			obj, err = t.Upgrade(v, obj)
		}
		if err != nil {
			return nil, fmt.Errorf("the object to write: %w", err)
		}
		var x any
		dec := json.NewDecoder(bytes.NewReader(model.Encode(obj)))
		dec.UseNumber()
		if err := dec.Decode(&x); err != nil {
			return nil, err
		}
		vars["o"] = x
		fmt.Fprintf(&q, "mutation ($o: %sInput!) { put%s(object: $o) ", t.Name, t.Name)
	default:
		return nil, fmt.Errorf("unknown object operation %v", op.F)
	}
	latest := t.Versions[len(t.Versions)-1]
	selectFields(&q, latest.Fields)
	q.WriteString(" _version _revision } }")
	b, err := json.Marshal(map[string]any{"query": q.String(), "variables": vars})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/v1/graphql", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// selectFields writes a selection of every field, "{ a b { c } " (its
// closing brace left to the caller): records and arrays of records
// select their fields; every other kind is a leaf.
func selectFields(q *strings.Builder, fields []*model.Field) {
	q.WriteString("{")
	for _, f := range fields {
		q.WriteString(" " + f.Name)
		ft := f.Type
		for ft.Kind == model.Array {
			ft = ft.Elem
		}
		if ft.Kind == model.Record {
			q.WriteString(" ")
			selectFields(q, ft.Fields)
			q.WriteString(" }")
		}
	}
}

// graphqlName is a name GraphQL takes bare, as an enum value must be.
var graphqlName = regexp.MustCompile(`^[_A-Za-z][_0-9A-Za-z]*$`)

// keyArguments writes the lookup arguments of the object key names (as
// model.Type.ParseKey reads it): "id: \"c1\"", each value a literal of
// its field's GraphQL type.
func keyArguments(t *model.Type, key string) (string, error) {
	obj := model.Object{}
	if _, err := t.SetKey(obj, key); err != nil {
		return "", err
	}
	latest := t.Versions[len(t.Versions)-1]
	var args []string
	for _, name := range t.Key {
		f, ok := latest.Field(name)
		if !ok {
			return "", fmt.Errorf("%s has no key field %s", t.Name, name)
		}
		lit, err := literal(f.Type, obj[name])
		if err != nil {
			return "", fmt.Errorf("key field %s: %w", name, err)
		}
		args = append(args, name+": "+lit)
	}
	return strings.Join(args, ", "), nil
}

// literal writes v, a normalized value of type ft, as a GraphQL literal.
func literal(ft *model.FieldType, v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "null", nil
	case string:
		if ft.Kind == model.Enum && graphqlName.MatchString(x) {
			return x, nil
		}
		b, err := json.Marshal(x) // JSON's escapes are GraphQL's
		return string(b), err
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	// A key of records, or a timestamp, decimal or bytes key: the
	// example models have none, and the client says so rather than
	// guess their literal.
	return "", fmt.Errorf("a %s key value %T has no GraphQL literal here", ft.Kind, v)
}

// graphqlAnswer is a GraphQL response as the client reads it.
type graphqlAnswer struct {
	Data   map[string]json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

// judgeGraphQL reads the answer to an object operation sent through
// GraphQL.
func judgeGraphQL(a answer, says string, op client.Op, status int, body []byte) answer {
	if status != http.StatusOK {
		return judgeOther(a, says, status)
	}
	typ := op.Object.Type
	var r graphqlAnswer
	if err := json.Unmarshal(body, &r); err != nil {
		a.outcome, a.bad, a.why = unknown, true, fmt.Sprintf("%s answered 200 with a body that is not a GraphQL response: %v", a.server, err)
		return a
	}
	field := typ
	switch op.F {
	case kv.OpPutObject:
		field = "put" + typ
	case kv.OpDeleteObject:
		field = "delete" + typ
	}
	if len(r.Errors) > 0 {
		e := r.Errors[0]
		a.why = fmt.Sprintf("%s answered with the error %q", a.server, cut(e.Message))
		code, _ := e.Extensions["code"].(string)
		switch {
		case op.F.IsRead():
			a.outcome, a.retry = refused, true
		case code == "unavailable" || code == "busy":
			a.outcome, a.retry = refused, true
		case code == "conflict" || code == "precondition_failed":
			a.outcome = refused
		default:
			a.outcome = unknown
		}
		return a
	}
	raw, ok := r.Data[field]
	if !ok {
		a.outcome, a.bad, a.why = unknown, true, fmt.Sprintf("%s answered without %s and without an error", a.server, field)
		return a
	}
	a.outcome = done
	if string(raw) == "null" {
		if op.F == kv.OpPutObject {
			a.outcome, a.bad, a.why = unknown, true, fmt.Sprintf("%s answered %s with null and no error", a.server, field)
		}
		return a // absent: read none, or deleted nothing
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		a.outcome, a.bad, a.why = unknown, true, fmt.Sprintf("%s answered %s with %s, not an object", a.server, field, cut(string(raw)))
		return a
	}
	version, err1 := strconv.Atoi(string(obj["_version"]))
	revision, err2 := strconv.ParseUint(string(obj["_revision"]), 10, 64)
	if err1 != nil || err2 != nil {
		a.outcome, a.bad, a.why = unknown, true, fmt.Sprintf("%s answered %s without its _version and _revision", a.server, field)
		return a
	}
	delete(obj, "_version")
	delete(obj, "_revision")
	value, err := json.Marshal(obj)
	if err != nil {
		a.outcome, a.bad, a.why = unknown, true, err.Error()
		return a
	}
	a.object = &kv.ObjectRecord{Type: typ, Version: version, Revision: revision, Value: value}
	return a
}
