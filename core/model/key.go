package model

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DecimalKey marks a canonical decimal string for EncodeKey: it is
// encoded by its text, so decimals sort as strings, not as numbers.
type DecimalKey string

// Tags of the key encoding, one byte before each value. Values of
// different kinds sort by tag; a key's fields have fixed kinds, so this
// only matters between keys of different types.
const (
	tagFalse   = 0x10
	tagTrue    = 0x11
	tagInt     = 0x20
	tagFloat   = 0x21
	tagTime    = 0x28
	tagString  = 0x30
	tagDecimal = 0x31
	tagBytes   = 0x32
)

// EncodeKey encodes a tuple of values so that comparing encodings
// bytewise orders tuples value by value. It takes string, int64, int,
// float64, bool, []byte, time.Time, DecimalKey and []any (whose elements
// are encoded in place: a composite key held by a ref). It panics on any
// other type.
func EncodeKey(values ...any) string {
	var b []byte
	for _, v := range values {
		b = appendKey(b, v)
	}
	return string(b)
}

func appendKey(b []byte, v any) []byte {
	switch x := v.(type) {
	case bool:
		if x {
			return append(b, tagTrue)
		}
		return append(b, tagFalse)
	case int:
		return appendKey(b, int64(x))
	case int64:
		b = append(b, tagInt)
		return binary.BigEndian.AppendUint64(b, uint64(x)^(1<<63))
	case float64:
		bits := math.Float64bits(x + 0)
		if bits&(1<<63) != 0 {
			bits = ^bits
		} else {
			bits |= 1 << 63
		}
		b = append(b, tagFloat)
		return binary.BigEndian.AppendUint64(b, bits)
	case time.Time:
		b = append(b, tagTime)
		b = binary.BigEndian.AppendUint64(b, uint64(x.Unix())^(1<<63))
		return binary.BigEndian.AppendUint32(b, uint32(x.Nanosecond()))
	case string:
		return appendEscaped(append(b, tagString), x)
	case DecimalKey:
		return appendEscaped(append(b, tagDecimal), string(x))
	case []byte:
		return appendEscaped(append(b, tagBytes), string(x))
	case []any:
		for _, e := range x {
			b = appendKey(b, e)
		}
		return b
	}
	panic(fmt.Sprintf("model: EncodeKey: cannot encode a %T", v))
}

// appendEscaped writes s with each 0x00 as 0x00 0xFF and ends it with
// 0x00 0x01, so that no encoded string is a prefix of another and a
// shorter string sorts before its extensions.
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			b = append(b, 0, 0xFF)
		} else {
			b = append(b, s[i])
		}
	}
	return append(b, 0, 1)
}

// decodeKey splits an encoded key into its values.
func decodeKey(s string) ([]any, error) {
	var out []any
	for len(s) > 0 {
		tag := s[0]
		s = s[1:]
		switch tag {
		case tagFalse, tagTrue:
			out = append(out, tag == tagTrue)
		case tagInt, tagFloat:
			if len(s) < 8 {
				return nil, fmt.Errorf("truncated key")
			}
			u := binary.BigEndian.Uint64([]byte(s[:8]))
			s = s[8:]
			if tag == tagInt {
				out = append(out, int64(u^(1<<63)))
			} else if u&(1<<63) != 0 {
				out = append(out, math.Float64frombits(u&^(1<<63)))
			} else {
				out = append(out, math.Float64frombits(^u))
			}
		case tagTime:
			if len(s) < 12 {
				return nil, fmt.Errorf("truncated key")
			}
			sec := int64(binary.BigEndian.Uint64([]byte(s[:8])) ^ (1 << 63))
			ns := int64(binary.BigEndian.Uint32([]byte(s[8:12])))
			s = s[12:]
			out = append(out, time.Unix(sec, ns).UTC())
		case tagString, tagDecimal, tagBytes:
			var b []byte
			for {
				if len(s) < 2 && (len(s) == 0 || s[0] == 0) {
					return nil, fmt.Errorf("unterminated string in key")
				}
				if s[0] != 0 {
					b = append(b, s[0])
					s = s[1:]
					continue
				}
				if s[1] == 0xFF {
					b = append(b, 0)
					s = s[2:]
					continue
				}
				if s[1] != 1 {
					return nil, fmt.Errorf("bad escape in key")
				}
				s = s[2:]
				break
			}
			switch tag {
			case tagString:
				out = append(out, string(b))
			case tagDecimal:
				out = append(out, DecimalKey(b))
			default:
				out = append(out, b)
			}
		default:
			return nil, fmt.Errorf("unknown tag 0x%02x in key", tag)
		}
	}
	return out, nil
}

// keyValue turns a normalized value of a scalar, enum or record type
// (refs resolved) into what EncodeKey takes.
func keyValue(ft *FieldType, v any) any {
	switch ft.Kind {
	case Bytes:
		b, _ := base64.StdEncoding.DecodeString(v.(string))
		return b
	case Timestamp:
		t, _ := time.Parse(time.RFC3339Nano, v.(string))
		return t
	case Decimal:
		return DecimalKey(v.(string))
	case Record:
		m := v.(map[string]any)
		out := make([]any, len(ft.Fields))
		for i, f := range ft.Fields {
			out[i] = keyValue(f.Type.resolved(), m[f.Name])
		}
		return out
	}
	return v
}

// keyText is a key value as a person writes it.
func keyText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case DecimalKey:
		return string(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = keyText(e)
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v)
}

// fieldValue checks field name of obj against the latest version and
// returns it normalized, with its resolved type.
func (t *Type) fieldValue(obj Object, name string) (*FieldType, any, error) {
	f, ok := t.Versions[len(t.Versions)-1].Field(name)
	if !ok {
		return nil, nil, &ObjectError{Path: "$", Msg: fmt.Sprintf("type %s has no field %q", t.Name, name)}
	}
	v, err := conform(fieldPath("$", name), f.Type, obj[name])
	if err != nil {
		return nil, nil, err
	}
	return f.Type.resolved(), v, nil
}

// PrimaryKey encodes the object's key (EncodeKey of its key fields'
// values, in key order).
func (t *Type) PrimaryKey(obj Object) (string, error) {
	values := make([]any, len(t.Key))
	for i, name := range t.Key {
		ft, v, err := t.fieldValue(obj, name)
		if err != nil {
			return "", err
		}
		if v == nil {
			return "", &ObjectError{Path: fieldPath("$", name), Msg: "a key field is null"}
		}
		values[i] = keyValue(ft, v)
	}
	return EncodeKey(values...), nil
}

// keyColumns is the key's scalar columns, composite refs flattened.
func (t *Type) keyColumns() []*FieldType {
	var cols []*FieldType
	var add func(ft *FieldType)
	add = func(ft *FieldType) {
		ft = ft.resolved()
		if ft.Kind == Record {
			for _, f := range ft.Fields {
				add(f.Type)
			}
			return
		}
		cols = append(cols, ft)
	}
	latest := t.Versions[len(t.Versions)-1]
	for _, name := range t.Key {
		f, _ := latest.Field(name)
		add(f.Type)
	}
	return cols
}

// ParseKey reads a key as a user writes it, in a URL for example: the
// key field's value as text, or for a key of several fields (composite
// refs counted field by field) the values joined by commas, the last
// taking the rest of the text. It returns what PrimaryKey gives for an
// object with that key.
func (t *Type) ParseKey(s string) (string, error) {
	cols := t.keyColumns()
	parts := []string{s}
	if len(cols) > 1 {
		parts = strings.SplitN(s, ",", len(cols))
		if len(parts) != len(cols) {
			return "", fmt.Errorf("a key of %s is %d values separated by commas, got %d", t.Name, len(cols), len(parts))
		}
	}
	values := make([]any, len(cols))
	for i, col := range cols {
		v, err := parseText(col, parts[i])
		if err != nil {
			return "", fmt.Errorf("key of %s: %w", t.Name, err)
		}
		values[i] = keyValue(col, v)
	}
	return EncodeKey(values...), nil
}

// parseText reads a scalar or enum from text into its normalized form.
func parseText(ft *FieldType, s string) (any, error) {
	var v any = s
	switch ft.Kind {
	case Int:
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s is not an integer", quote(s))
		}
		v = i
	case Float:
		if _, err := canonicalDecimal(s); err != nil {
			return nil, fmt.Errorf("%s is not a number", quote(s))
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%s is not a number", quote(s))
		}
		v = f
	case Bool:
		switch s {
		case "true":
			v = true
		case "false":
			v = false
		default:
			return nil, fmt.Errorf("%s is not true or false", quote(s))
		}
	}
	out, err := conform("$", ft.withNullable(false), v)
	if err != nil {
		return nil, fmt.Errorf("%s", objectMsg(err))
	}
	return out, nil
}

// KeyString writes an encoded primary key as ParseKey reads it, for
// display. A string that is no encoded key is shown quoted.
func (t *Type) KeyString(pk string) string {
	values, err := decodeKey(pk)
	if err != nil {
		return strconv.Quote(pk)
	}
	return keyText(values)
}

// AffinityKey returns the text whose hash picks the object's bucket: its
// affinity field's value as ParseKey reads it. A Customer with id c1 and
// an Order whose customer_id is c1 give the same text, so they share a
// bucket.
func (t *Type) AffinityKey(obj Object) (string, error) {
	ft, v, err := t.fieldValue(obj, t.Affinity)
	if err != nil {
		return "", err
	}
	if v == nil {
		return "", &ObjectError{Path: fieldPath("$", t.Affinity), Msg: "the affinity field is null"}
	}
	return keyText(keyValue(ft, v)), nil
}

// IndexEntry is one index's entry for an object. Key is EncodeKey of the
// index fields' values; a unique index's Key identifies one object, a
// non-unique one's needs the primary key beside it.
type IndexEntry struct {
	Index  string
	Key    string
	Unique bool
}

// IndexEntries returns the object's entries in its type's indexes, in
// declaration order; an index in which one of the object's fields is null
// has no entry for it.
func (t *Type) IndexEntries(obj Object) ([]IndexEntry, error) {
	var out []IndexEntry
	for _, ix := range t.Indexes {
		key, ok, err := t.indexKey(ix, obj)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, IndexEntry{Index: ix.Name, Key: key, Unique: ix.Unique})
		}
	}
	return out, nil
}

// indexKey is the key of obj's entry in ix; ok is false when one of
// the index's fields is null in obj.
func (t *Type) indexKey(ix Index, obj Object) (key string, ok bool, err error) {
	values := make([]any, len(ix.Fields))
	for i, name := range ix.Fields {
		ft, v, err := t.fieldValue(obj, name)
		if err != nil {
			return "", false, err
		}
		if v == nil {
			return "", false, nil
		}
		values[i] = keyValue(ft, v)
	}
	return EncodeKey(values...), true, nil
}

// IndexKey is the key of the entry that t's index name gives an object
// whose index fields hold values, one for each of the index's fields in
// its order: the key IndexEntries encodes for such an object, so that a
// listing can read the entries of one key. A value is what an object's
// field holds (Decode's form), or for a ref, a string: the text of the
// key it refers to, as ParseKey reads it. A null value gives no entry:
// ok is false.
func (t *Type) IndexKey(name string, values []any) (key string, ok bool, err error) {
	i := slices.IndexFunc(t.Indexes, func(ix Index) bool { return ix.Name == name })
	if i < 0 {
		return "", false, fmt.Errorf("type %s has no index %q", t.Name, name)
	}
	ix := t.Indexes[i]
	if len(values) != len(ix.Fields) {
		return "", false, fmt.Errorf("index %s of %s: %d values for %d fields", name, t.Name, len(values), len(ix.Fields))
	}
	latest := t.Versions[len(t.Versions)-1]
	obj := make(Object, len(values))
	for j, field := range ix.Fields {
		v := values[j]
		if v == nil {
			return "", false, nil
		}
		if s, isText := v.(string); isText {
			if f, found := latest.Field(field); found && f.Type.Kind == Ref {
				r := f.Type.resolved()
				if r == nil || r.Kind == Record {
					return "", false, fmt.Errorf("index %s of %s: field %s refers to a composite key, which has no single text", name, t.Name, field)
				}
				if v, err = parseText(r, s); err != nil {
					return "", false, fmt.Errorf("index %s of %s: field %s: %w", name, t.Name, field, err)
				}
			}
		}
		obj[field] = v
	}
	return t.indexKey(ix, obj)
}

// RouteKey returns, for an encoded primary key, the text whose hash picks
// the object's bucket: what AffinityKey gives for the object. The
// affinity field is a key field, so a read by key needs no object.
func (t *Type) RouteKey(pk string) (string, error) {
	values, err := decodeKey(pk)
	if err != nil {
		return "", fmt.Errorf("key of %s: %w", t.Name, err)
	}
	latest := t.Versions[len(t.Versions)-1]
	col := 0
	for _, name := range t.Key {
		f, _ := latest.Field(name)
		n := columns(f.Type)
		if col+n > len(values) {
			break
		}
		if name == t.Affinity {
			if n == 1 {
				return keyText(values[col]), nil
			}
			return keyText(values[col : col+n]), nil
		}
		col += n
	}
	return "", fmt.Errorf("key of %s: %d values, not a key of this type", t.Name, len(values))
}

// columns counts the scalar columns a key field adds to the key.
func columns(ft *FieldType) int {
	ft = ft.resolved()
	if ft.Kind != Record {
		return 1
	}
	n := 0
	for _, f := range ft.Fields {
		n += columns(f.Type)
	}
	return n
}

// SetKey gives obj the key that text names (as ParseKey reads it): each
// key field is set to its value. It returns the encoded key.
func (t *Type) SetKey(obj Object, text string) (string, error) {
	pk, err := t.ParseKey(text)
	if err != nil {
		return "", err
	}
	cols := t.keyColumns()
	parts := []string{text}
	if len(cols) > 1 {
		parts = strings.SplitN(text, ",", len(cols))
	}
	latest := t.Versions[len(t.Versions)-1]
	col := 0
	for _, name := range t.Key {
		f, _ := latest.Field(name)
		ft := f.Type.resolved()
		if ft.Kind != Record {
			v, err := parseText(ft, parts[col])
			if err != nil {
				return "", err
			}
			obj[name] = v
			col++
			continue
		}
		rec := map[string]any{}
		for _, sub := range ft.Fields {
			v, err := parseText(sub.Type.resolved(), parts[col])
			if err != nil {
				return "", err
			}
			rec[sub.Name] = v
			col++
		}
		obj[name] = rec
	}
	return pk, nil
}
