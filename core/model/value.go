package model

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/shoaldb/shoal/core/jsonvalue"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on an object document.
const (
	maxObjectSize   = 1 << 20
	maxObjectDepth  = 32
	maxDecimalWidth = 1000 // digits of a canonical decimal, either side of the point
)

// Validate reads data, one JSON object, as an object of the type's
// version and returns it normalized. The error, when there is one, is an
// *ObjectError naming the JSON path of the first problem.
func (t *Type) Validate(version int, data []byte) (Object, error) {
	v, ok := t.Version(version)
	if !ok {
		return nil, &ObjectError{Path: "$", Msg: fmt.Sprintf("type %s has no version %d (it has 1..%d)", t.Name, version, t.Latest())}
	}
	raw, err := parseJSON(data)
	if err != nil {
		return nil, err
	}
	out, err := conform("$", v.record, raw)
	if err != nil {
		return nil, err
	}
	return out.(Object), nil
}

// Check checks an already decoded object against the type's version, as
// Validate does.
func (t *Type) Check(version int, obj Object) error {
	_, err := t.normalize(version, obj)
	return err
}

// normalize checks obj against the version and returns its normalized
// copy; obj itself is not changed.
func (t *Type) normalize(version int, obj Object) (Object, error) {
	v, ok := t.Version(version)
	if !ok {
		return nil, &ObjectError{Path: "$", Msg: fmt.Sprintf("type %s has no version %d (it has 1..%d)", t.Name, version, t.Latest())}
	}
	if obj == nil {
		return nil, &ObjectError{Path: "$", Msg: "expected object, got null"}
	}
	out, err := conform("$", v.record, obj)
	if err != nil {
		return nil, err
	}
	return out.(Object), nil
}

// parseJSON reads one JSON object into a tree of json.Number, string,
// bool, nil, []any and map[string]any, rejecting what encoding/json lets
// through silently: duplicate keys, trailing data, and input beyond the
// size and depth limits.
func parseJSON(data []byte) (any, error) {
	if len(data) > maxObjectSize {
		return nil, &ObjectError{Path: "$", Msg: fmt.Sprintf("the document is %d bytes, over the limit of 1 MiB", len(data))}
	}
	r := &jsonReader{dec: json.NewDecoder(bytes.NewReader(data))}
	r.dec.UseNumber()
	tok, err := r.token("$")
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('{') {
		return nil, &ObjectError{Path: "$", Msg: "expected object, got " + tokenKind(tok)}
	}
	v, err := r.value("$", tok, 1)
	if err != nil {
		return nil, err
	}
	if _, err := r.dec.Token(); err != io.EOF {
		return nil, &ObjectError{Path: "$", Msg: fmt.Sprintf("trailing data after the object at byte %d", r.dec.InputOffset())}
	}
	return v, nil
}

type jsonReader struct {
	dec *json.Decoder
}

func (r *jsonReader) token(path string) (json.Token, error) {
	tok, err := r.dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &ObjectError{Path: path, Msg: "invalid JSON: unexpected end of input"}
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, &ObjectError{Path: path, Msg: fmt.Sprintf("invalid JSON at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: "))}
		}
		return nil, &ObjectError{Path: path, Msg: "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
	}
	return tok, nil
}

// value reads the value that starts with tok, at depth (the top-level
// object is at depth 1).
func (r *jsonReader) value(path string, tok json.Token, depth int) (any, error) {
	switch tok {
	case json.Delim('{'):
		if depth > maxObjectDepth {
			return nil, &ObjectError{Path: path, Msg: fmt.Sprintf("nesting deeper than %d", maxObjectDepth)}
		}
		obj := map[string]any{}
		for r.dec.More() {
			kt, err := r.token(path)
			if err != nil {
				return nil, err
			}
			key, ok := kt.(string)
			if !ok {
				return nil, &ObjectError{Path: path, Msg: "invalid JSON: object key is not a string"}
			}
			if _, dup := obj[key]; dup {
				return nil, &ObjectError{Path: path, Msg: "duplicate field " + quote(key)}
			}
			child := fieldPath(path, key)
			vt, err := r.token(child)
			if err != nil {
				return nil, err
			}
			if obj[key], err = r.value(child, vt, depth+1); err != nil {
				return nil, err
			}
		}
		if _, err := r.token(path); err != nil {
			return nil, err
		}
		return obj, nil
	case json.Delim('['):
		if depth > maxObjectDepth {
			return nil, &ObjectError{Path: path, Msg: fmt.Sprintf("nesting deeper than %d", maxObjectDepth)}
		}
		arr := []any{}
		for r.dec.More() {
			child := path + "[" + strconv.Itoa(len(arr)) + "]"
			vt, err := r.token(child)
			if err != nil {
				return nil, err
			}
			v, err := r.value(child, vt, depth+1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		if _, err := r.token(path); err != nil {
			return nil, err
		}
		return arr, nil
	}
	return tok, nil
}

func tokenKind(tok json.Token) string {
	switch tok {
	case json.Delim('['):
		return "array"
	case json.Delim('{'):
		return "object"
	}
	return kindOf(tok)
}

// fieldPath extends a JSON path with a field name.
func fieldPath(path, name string) string {
	if isIdentifier(name) {
		return path + "." + name
	}
	return path + "[" + strconv.Quote(name) + "]"
}

// isIdentifier reports whether s matches [A-Za-z_][A-Za-z0-9_]*. (Every
// field of every object takes this test: a regexp costs a fifth of a
// validation.)
func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// kindOf names what JSON kind a value is, for "expected X, got Y".
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number, int64, int, float64:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// expected names what a type wants, for "expected X, got Y".
func expected(ft *FieldType) string {
	switch ft.Kind {
	case Int:
		return "integer"
	case Float:
		return "number"
	case Bool:
		return "boolean"
	case Bytes:
		return "base64 string"
	case Timestamp:
		return "RFC 3339 timestamp string"
	case Decimal:
		return "decimal number or string"
	case Enum:
		return "string (one of " + strings.Join(ft.Values, ", ") + ")"
	case Record, Map:
		return "object"
	}
	return string(ft.Kind)
}

// conform checks v against ft and returns its normalized copy. It takes
// both what parseJSON gives (json.Number) and normalized values, so that
// it serves Validate, Check and the results of migrations.
func conform(path string, ft *FieldType, v any) (any, error) {
	if v == nil {
		if ft.Nullable {
			return nil, nil
		}
		return nil, &ObjectError{Path: path, Msg: "expected " + expected(ft) + ", got null"}
	}
	if ft.Kind == Ref {
		r := ft.resolved()
		if r == nil {
			return nil, &ObjectError{Path: path, Msg: "type " + ft.Ref + " has no usable key"}
		}
		ft = r
	}
	mismatch := func() error {
		return &ObjectError{Path: path, Msg: "expected " + expected(ft) + ", got " + kindOf(v)}
	}
	switch ft.Kind {
	case String:
		s, ok := v.(string)
		if !ok {
			return nil, mismatch()
		}
		if !utf8.ValidString(s) {
			return nil, &ObjectError{Path: path, Msg: "the string is not valid UTF-8"}
		}
		return s, nil
	case Int:
		switch x := v.(type) {
		case json.Number:
			s := string(x)
			if strings.ContainsAny(s, ".eE") {
				return nil, &ObjectError{Path: path, Msg: "expected integer, got " + quoteNumber(s)}
			}
			i, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, &ObjectError{Path: path, Msg: quoteNumber(s) + " is out of the int range"}
			}
			return i, nil
		case int64:
			return x, nil
		case int:
			return int64(x), nil
		case float64:
			if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
				return nil, &ObjectError{Path: path, Msg: "expected integer, got " + formatFloat(x)}
			}
			return int64(x), nil
		}
		return nil, mismatch()
	case Float:
		switch x := v.(type) {
		case json.Number:
			f, err := strconv.ParseFloat(string(x), 64)
			if err != nil || math.IsInf(f, 0) {
				return nil, &ObjectError{Path: path, Msg: quoteNumber(string(x)) + " is out of the float range"}
			}
			return f + 0, nil
		case int64:
			return float64(x), nil
		case int:
			return float64(x), nil
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, &ObjectError{Path: path, Msg: "expected a finite number, got " + formatFloat(x)}
			}
			return x + 0, nil // +0 turns -0 into 0
		}
		return nil, mismatch()
	case Bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, mismatch()
	case Bytes:
		switch x := v.(type) {
		case string:
			b, err := base64.StdEncoding.Strict().DecodeString(x)
			if err != nil {
				return nil, &ObjectError{Path: path, Msg: quote(x) + " is not standard base64"}
			}
			return base64.StdEncoding.EncodeToString(b), nil
		case []byte:
			return base64.StdEncoding.EncodeToString(x), nil
		}
		return nil, mismatch()
	case Timestamp:
		switch x := v.(type) {
		case string:
			s, err := canonicalTime(x)
			if err != nil {
				return nil, &ObjectError{Path: path, Msg: err.Error()}
			}
			return s, nil
		case time.Time:
			s, err := canonicalTime(x.Format(time.RFC3339Nano))
			if err != nil {
				return nil, &ObjectError{Path: path, Msg: err.Error()}
			}
			return s, nil
		}
		return nil, mismatch()
	case Decimal:
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case json.Number:
			s = string(x)
		case int64:
			s = strconv.FormatInt(x, 10)
		case int:
			s = strconv.Itoa(x)
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, &ObjectError{Path: path, Msg: "expected a finite number, got " + formatFloat(x)}
			}
			s = strconv.FormatFloat(x, 'f', -1, 64)
		default:
			return nil, mismatch()
		}
		d, err := canonicalDecimal(s)
		if err != nil {
			return nil, &ObjectError{Path: path, Msg: err.Error()}
		}
		return d, nil
	case Enum:
		s, ok := v.(string)
		if !ok {
			return nil, mismatch()
		}
		if !slices.Contains(ft.Values, s) {
			return nil, &ObjectError{Path: path, Msg: quote(s) + " is not one of " + strings.Join(ft.Values, ", ")}
		}
		return s, nil
	case Array:
		arr, ok := v.([]any)
		if !ok {
			return nil, mismatch()
		}
		out := make([]any, len(arr))
		for i, e := range arr {
			var err error
			if out[i], err = conform(path+"["+strconv.Itoa(i)+"]", ft.Elem, e); err != nil {
				return nil, err
			}
		}
		return out, nil
	case Map:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, mismatch()
		}
		out := make(map[string]any, len(m))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if !utf8.ValidString(k) {
				return nil, &ObjectError{Path: path, Msg: "a key is not valid UTF-8"}
			}
			var err error
			if out[k], err = conform(fieldPath(path, k), ft.Elem, m[k]); err != nil {
				return nil, err
			}
		}
		return out, nil
	case Record:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, mismatch()
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if ft.field(k) == nil {
				return nil, &ObjectError{Path: path, Msg: "unknown field " + quote(k) + hint(k, ft.fieldNames())}
			}
		}
		out := make(map[string]any, len(ft.Fields))
		for _, f := range ft.Fields {
			fv, present := m[f.Name]
			switch {
			case present:
			case f.HasDefault:
				out[f.Name] = jsonvalue.Copy(f.Default)
				continue
			case f.Type.Nullable:
				out[f.Name] = nil
				continue
			default:
				return nil, &ObjectError{Path: fieldPath(path, f.Name), Msg: "required field missing"}
			}
			var err error
			if out[f.Name], err = conform(fieldPath(path, f.Name), f.Type, fv); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	panic(fmt.Sprintf("model: conform: unknown kind %q", ft.Kind))
}

func jsonNumber(s string) any { return json.Number(s) }

// quoteNumber shows a number from the input, cut short when long.
func quoteNumber(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// canonicalTime parses an RFC 3339 timestamp and writes it in UTC with
// as many fractional digits as it needs.
func canonicalTime(s string) (string, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return "", fmt.Errorf("%s is not an RFC 3339 timestamp", quote(s))
	}
	t = t.UTC()
	if t.Year() < 0 || t.Year() > 9999 {
		return "", fmt.Errorf("%s is out of the timestamp range (years 0000..9999 in UTC)", quote(s))
	}
	return t.Format(time.RFC3339Nano), nil
}

// splitDecimal splits a decimal literal, [+-]?[0-9]*(\.[0-9]*)?([eE][+-]?[0-9]+)?,
// into its sign, integer digits, fraction digits and exponent; ok is
// false when s is not one.
func splitDecimal(s string) (sign, whole, frac, exp string, ok bool) {
	digits := func(s string) (string, string) {
		i := 0
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return s[:i], s[i:]
	}
	rest := s
	if rest != "" && (rest[0] == '+' || rest[0] == '-') {
		sign, rest = rest[:1], rest[1:]
	}
	whole, rest = digits(rest)
	if rest != "" && rest[0] == '.' {
		frac, rest = digits(rest[1:])
	}
	if rest != "" && (rest[0] == 'e' || rest[0] == 'E') {
		e := rest[1:]
		esign := ""
		if e != "" && (e[0] == '+' || e[0] == '-') {
			esign, e = e[:1], e[1:]
		}
		var ed string
		ed, rest = digits(e)
		if ed == "" {
			return "", "", "", "", false
		}
		exp = esign + ed
	}
	return sign, whole, frac, exp, rest == ""
}

// The errors of CanonicalDecimal.
var (
	ErrNotDecimal   = errors.New("not a decimal")
	ErrDecimalRange = errors.New("out of the decimal range")
)

// IsDecimalLiteral reports whether s is a decimal literal,
// [+-]?[0-9]*(\.[0-9]*)?([eE][+-]?[0-9]+)? with at least one digit
// before the exponent: the syntax of decimals, and of floats in JSON.
func IsDecimalLiteral(s string) bool {
	_, whole, frac, _, ok := splitDecimal(s)
	return ok && whole+frac != ""
}

// CanonicalDecimal writes a decimal literal as decimals are stored:
// without exponent, leading zeros or trailing fractional zeros ("1.50e2"
// is "150", "-0.0" is "0"), at most maxDecimalWidth digits either side
// of the point. It fails with ErrNotDecimal or ErrDecimalRange.
func CanonicalDecimal(s string) (string, error) {
	sign, whole, frac, e, ok := splitDecimal(s)
	if !ok || whole+frac == "" {
		return "", ErrNotDecimal
	}
	digits := whole + frac
	exp := -len(frac)
	if e != "" {
		n, err := strconv.Atoi(e)
		if err != nil || n > 10*maxDecimalWidth || n < -10*maxDecimalWidth {
			return "", ErrDecimalRange
		}
		exp += n
	}
	digits = strings.TrimLeft(digits, "0")
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		exp++
	}
	if digits == "" {
		return "0", nil
	}
	var out string
	point := len(digits) + exp // digits before the point
	switch {
	case point > maxDecimalWidth || -exp > maxDecimalWidth:
		return "", ErrDecimalRange
	case exp >= 0:
		out = digits + strings.Repeat("0", exp)
	case point <= 0:
		out = "0." + strings.Repeat("0", -point) + digits
	default:
		out = digits[:point] + "." + digits[point:]
	}
	if sign == "-" {
		out = "-" + out
	}
	return out, nil
}

// canonicalDecimal is CanonicalDecimal with an error that quotes s.
func canonicalDecimal(s string) (string, error) {
	d, err := CanonicalDecimal(s)
	if err != nil {
		return "", fmt.Errorf("%s is %w", quote(s), err)
	}
	return d, nil
}

// formatFloat writes a float so that it reads back as a float: always
// with a point or an exponent.
func formatFloat(f float64) string {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEnI") {
		s += ".0"
	}
	return s
}

// Encode writes a normalized object as canonical JSON: keys sorted, no
// spaces, integers as integers and floats always with a point or an
// exponent (so that Decode tells them apart). It panics on a value no
// normalized object holds.
func Encode(obj Object) []byte {
	return appendValue(nil, map[string]any(obj))
}

func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, x)
	case string:
		return appendString(b, x)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			panic("model: Encode: a non-finite float")
		}
		return append(b, formatFloat(x+0)...)
	case json.Number:
		return append(b, x...)
	case []byte:
		return appendString(b, base64.StdEncoding.EncodeToString(x))
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, e)
		}
		return append(b, ']')
	case map[string]any:
		b = append(b, '{')
		for i, k := range slices.Sorted(maps.Keys(x)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendValue(b, x[k])
		}
		return append(b, '}')
	}
	panic(fmt.Sprintf("model: Encode: a %T is no normalized value", v))
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string, escaping only what JSON
// requires, and invalid UTF-8 as U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// Decode reads an object as Encode writes it (or any JSON object):
// integers become int64, other numbers float64. It rejects what
// Validate rejects of the document itself (duplicate keys, trailing
// data, the size and depth limits).
func Decode(data []byte) (Object, error) {
	raw, err := parseJSON(data)
	if err != nil {
		return nil, err
	}
	v, err := plain("$", raw)
	if err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

// plain turns parseJSON's numbers into int64 and float64.
func plain(path string, v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			i, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, &ObjectError{Path: path, Msg: quoteNumber(s) + " is out of the int range"}
			}
			return i, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, &ObjectError{Path: path, Msg: quoteNumber(s) + " is out of the float range"}
		}
		return f + 0, nil
	case []any:
		for i, e := range x {
			var err error
			if x[i], err = plain(path+"["+strconv.Itoa(i)+"]", e); err != nil {
				return nil, err
			}
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			var err error
			if x[k], err = plain(fieldPath(path, k), x[k]); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}

// sortedKeys returns a map's keys in order, for iterations whose order
// can reach an output.
func sortedKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}
