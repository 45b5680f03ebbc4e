package model

import (
	"encoding/base64"
	"fmt"
	"github.com/shoaldb/shoal/core/jsonvalue"
	"math"
	"slices"
	"strconv"
	"strings"
)

// migrations are the functions func steps name. They are registered
// from init functions, before any model is parsed, and never change
// afterwards.
var migrations = map[string]func(Object) (Object, error){}

// RegisterMigration makes fn available to `func: name` migration steps.
// fn gets a copy of a normalized object of the version before and
// returns the object of the next version (it may change and return its
// argument); its result is checked against that version. Call it from an
// init function; it panics on a duplicate or empty name.
func RegisterMigration(name string, fn func(Object) (Object, error)) {
	if name == "" || fn == nil {
		panic("model: RegisterMigration needs a name and a function")
	}
	if migrations[name] != nil {
		panic(fmt.Sprintf("model: RegisterMigration: %q is already registered", name))
	}
	migrations[name] = fn
}

// Upgrade brings an object of version from to the type's latest version,
// one migration at a time, checking the object against each version it
// passes through. It returns a normalized copy; obj is not changed.
func (t *Type) Upgrade(from int, obj Object) (Object, error) {
	cur, err := t.normalize(from, obj)
	if err != nil {
		return nil, err
	}
	for v := from; v < t.Latest(); v++ {
		if cur, err = t.migrate(v, cur); err != nil {
			return nil, err
		}
	}
	return cur, nil
}

// UpgradeStep brings an object of version from to version from+1.
func (t *Type) UpgradeStep(from int, obj Object) (Object, error) {
	if from >= t.Latest() && from >= 1 {
		return nil, fmt.Errorf("%s: version %d is the latest", t.Name, from)
	}
	cur, err := t.normalize(from, obj)
	if err != nil {
		return nil, err
	}
	return t.migrate(from, cur)
}

// migrate applies the migration to version from+1 to obj, a normalized
// object of version from that it may change.
func (t *Type) migrate(from int, obj Object) (Object, error) {
	next := t.Versions[from]
	var fn string
	for _, s := range next.Migration {
		if s.Op == OpFunc {
			fn = s.Func
			f := migrations[s.Func]
			if f == nil {
				return nil, fmt.Errorf("%s version %d to %d: migration func %q is not registered", t.Name, from, from+1, s.Func)
			}
			out, err := f(jsonvalue.Copy(obj).(Object))
			if err != nil {
				return nil, fmt.Errorf("%s version %d to %d: migration func %q: %w", t.Name, from, from+1, s.Func, err)
			}
			if out == nil {
				return nil, fmt.Errorf("%s version %d to %d: migration func %q returned no object", t.Name, from, from+1, s.Func)
			}
			obj = out
			continue
		}
		if err := applyStep(obj, s); err != nil {
			return nil, fmt.Errorf("%s version %d to %d: %s: %w", t.Name, from, from+1, s.Op, err)
		}
	}
	out, err := conform("$", next.record, map[string]any(obj))
	if err != nil {
		if fn != "" {
			return nil, fmt.Errorf("%s version %d to %d: migration func %q gave an object that does not fit version %d: %w", t.Name, from, from+1, fn, from+1, err)
		}
		return nil, fmt.Errorf("%s version %d to %d: the migration gave an object that does not fit version %d: %w", t.Name, from, from+1, from+1, err)
	}
	return out.(Object), nil
}

// locate returns the object holding the field at a dotted path, or nil
// when a record on the way is null (the step has nothing to change).
func locate(obj Object, path string) (map[string]any, string, error) {
	segs := strings.Split(path, ".")
	m := map[string]any(obj)
	for i, seg := range segs[:len(segs)-1] {
		switch v := m[seg].(type) {
		case nil:
			return nil, "", nil
		case map[string]any:
			m = v
		default:
			return nil, "", fmt.Errorf("field %q is not a record", strings.Join(segs[:i+1], "."))
		}
	}
	return m, segs[len(segs)-1], nil
}

// applyStep applies one step (not func) to obj in place.
func applyStep(obj Object, s Step) error {
	path := s.Field
	switch s.Op {
	case OpRename:
		path = s.From
	case OpMerge:
		path = s.Fields[0]
	}
	m, name, err := locate(obj, path)
	if err != nil || m == nil {
		return err
	}
	switch s.Op {
	case OpAdd:
		m[name] = jsonvalue.Copy(s.Default)
	case OpRename:
		m[s.To] = m[name]
		delete(m, name)
	case OpDrop:
		delete(m, name)
	case OpConvert:
		v, ok := convertValue(m[name], s.Type)
		if !ok {
			if !s.HasDefault {
				return fmt.Errorf("field %q: %s does not convert to %s", s.Field, describeValue(m[name]), s.Type)
			}
			v = jsonvalue.Copy(s.Default)
		}
		m[name] = v
	case OpSplit:
		str, _ := m[name].(string)
		delete(m, name)
		parts := strings.SplitN(str, s.Separator, len(s.Into))
		for i, into := range s.Into {
			m[into] = ""
			if i < len(parts) {
				m[into] = parts[i]
			}
		}
	case OpMerge:
		texts := make([]string, len(s.Fields))
		for i, fp := range s.Fields {
			texts[i] = text(m[leaf(fp)])
			delete(m, leaf(fp))
		}
		m[s.To] = strings.Join(texts, s.Separator)
	}
	return nil
}

func describeValue(v any) string {
	b := appendValue(nil, v)
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

// text is a scalar value as text: strings as they are, numbers in
// decimal, null as "".
func text(v any) string {
	switch v.(type) {
	case nil:
		return ""
	case string, int64, float64, bool:
		return keyText(v)
	}
	return string(appendValue(nil, v))
}

// conversion says whether values of type from can be converted to type
// to (ok) and whether every value can (total); a partial conversion needs
// a default for the values that do not convert.
func conversion(from, to *FieldType) (ok, total bool) {
	a, b := from.resolved(), to.resolved()
	if a == nil || b == nil {
		return false, false
	}
	ok, total = baseConversion(a, b)
	if a.Nullable && !b.Nullable {
		total = false
	}
	return ok, total
}

func baseConversion(a, b *FieldType) (ok, total bool) {
	if equal(a.withNullable(false), b.withNullable(false)) {
		return true, true
	}
	switch {
	case a.Kind == Enum && b.Kind == Enum:
		for _, v := range a.Values {
			if !slices.Contains(b.Values, v) {
				return true, false
			}
		}
		return true, true
	case (a.Kind == Array && b.Kind == Array) || (a.Kind == Map && b.Kind == Map):
		ok, total := baseConversion(a.Elem, b.Elem)
		if a.Elem.Nullable && !b.Elem.Nullable {
			total = false
		}
		return ok, total
	case b.Kind == String:
		switch a.Kind {
		case Int, Float, Bool, Decimal, Enum, Timestamp:
			return true, true
		}
	case a.Kind == Int:
		return b.Kind == Float || b.Kind == Decimal, true
	case a.Kind == Float:
		switch b.Kind {
		case Decimal:
			return true, true
		case Int:
			return true, false
		}
	case a.Kind == Decimal:
		return b.Kind == Int || b.Kind == Float, false
	case a.Kind == String:
		switch b.Kind {
		case Int, Float, Decimal, Timestamp, Enum, Bool, Bytes:
			return true, false
		}
	}
	return false, false
}

// convertValue converts a normalized value to type to; ok is false when
// it does not convert.
func convertValue(v any, to *FieldType) (any, bool) {
	if v == nil {
		return nil, to.Nullable
	}
	b := to.resolved()
	if b == nil {
		return nil, false
	}
	switch b.Kind {
	case Array:
		arr, ok := v.([]any)
		if !ok {
			return nil, false
		}
		out := make([]any, len(arr))
		for i, e := range arr {
			if out[i], ok = convertValue(e, b.Elem); !ok {
				return nil, false
			}
		}
		return out, true
	case Map, Record:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if b.Kind == Record {
			out, err := conform("$", b, m)
			return out, err == nil
		}
		out := make(map[string]any, len(m))
		for _, k := range sortedKeys(m) {
			if out[k], ok = convertValue(m[k], b.Elem); !ok {
				return nil, false
			}
		}
		return out, true
	}
	var out any
	switch x := v.(type) {
	case int64:
		switch b.Kind {
		case Float:
			out = float64(x)
		case String, Decimal:
			out = strconv.FormatInt(x, 10)
		default:
			out = x
		}
	case float64:
		switch b.Kind {
		case String:
			out = strconv.FormatFloat(x, 'g', -1, 64)
		case Decimal:
			out = strconv.FormatFloat(x, 'f', -1, 64)
		case Int:
			if x != math.Trunc(x) || x < -(1<<63) || x >= 1<<63 {
				return nil, false
			}
			out = int64(x)
		default:
			out = x
		}
	case bool:
		if b.Kind == String {
			out = strconv.FormatBool(x)
		} else {
			out = x
		}
	case string:
		switch b.Kind {
		case Int:
			i, err := strconv.ParseInt(x, 10, 64)
			if err != nil {
				// A decimal such as "12.0" or "1e3" that is an integer.
				d, derr := canonicalDecimal(x)
				if derr != nil || strings.Contains(d, ".") {
					return nil, false
				}
				if i, err = strconv.ParseInt(d, 10, 64); err != nil {
					return nil, false
				}
			}
			out = i
		case Float:
			if _, err := canonicalDecimal(x); err != nil {
				return nil, false // ParseFloat would take "Inf" and "0x1p3"
			}
			f, err := strconv.ParseFloat(x, 64)
			if err != nil || math.IsInf(f, 0) {
				return nil, false
			}
			out = f
		case Bool:
			switch x {
			case "true":
				out = true
			case "false":
				out = false
			default:
				return nil, false
			}
		case Bytes:
			if _, err := base64.StdEncoding.Strict().DecodeString(x); err != nil {
				return nil, false
			}
			out = x
		default:
			out = x
		}
	default:
		return nil, false
	}
	r, err := conform("$", b, out)
	return r, err == nil
}
