package model

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Sample returns a random object valid at the version, drawn from r
// alone: the same r state gives the same object. It panics on a version
// the type does not have.
func (t *Type) Sample(version int, r *rand.Rand) Object {
	v, ok := t.Version(version)
	if !ok {
		panic(fmt.Sprintf("model: Sample: type %s has no version %d", t.Name, version))
	}
	return sample(v.record, r, 0).(map[string]any)
}

// sampleRunes are what sampled strings are made of: a space and a dash
// so that split and merge steps have separators to find, a multi-byte
// letter and a quote for the encoders.
const sampleRunes = "abcxyz ABC-_0\"é"

func sample(ft *FieldType, r *rand.Rand, depth int) any {
	if ft.Nullable && r.IntN(5) == 0 {
		return nil
	}
	if ft.Kind == Ref {
		ft = ft.resolved()
	}
	switch ft.Kind {
	case String:
		runes := []rune(sampleRunes)
		s := make([]rune, r.IntN(9))
		for i := range s {
			s[i] = runes[r.IntN(len(runes))]
		}
		return string(s)
	case Int:
		switch r.IntN(3) {
		case 0:
			return r.Int64N(201) - 100
		case 1:
			return r.Int64()
		default:
			return -r.Int64()
		}
	case Float:
		switch r.IntN(3) {
		case 0:
			return float64(r.IntN(201) - 100)
		case 1:
			return r.NormFloat64() * 1e6
		default:
			return r.Float64()
		}
	case Bool:
		return r.IntN(2) == 0
	case Bytes:
		b := make([]byte, r.IntN(7))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return base64.StdEncoding.EncodeToString(b)
	case Timestamp:
		var ns int64
		if r.IntN(2) == 0 {
			ns = r.Int64N(1e9)
		}
		return time.Unix(r.Int64N(4102444800), ns).UTC().Format(time.RFC3339Nano)
	case Decimal:
		s := strconv.FormatInt(r.Int64N(1000000), 10)
		if n := r.IntN(4); n > 0 {
			s += "." + strconv.FormatInt(r.Int64N(1000), 10)
		}
		if r.IntN(3) == 0 {
			s = "-" + s
		}
		d, err := canonicalDecimal(s)
		if err != nil {
			panic(err)
		}
		return d
	case Enum:
		return ft.Values[r.IntN(len(ft.Values))]
	case Array:
		n := r.IntN(4)
		if depth > 4 {
			n = 0
		}
		out := make([]any, n)
		for i := range out {
			out[i] = sample(ft.Elem, r, depth+1)
		}
		return out
	case Map:
		n := r.IntN(4)
		if depth > 4 {
			n = 0
		}
		out := make(map[string]any, n)
		for range n {
			out["k"+strconv.Itoa(r.IntN(10))] = sample(ft.Elem, r, depth+1)
		}
		return out
	case Record:
		out := make(map[string]any, len(ft.Fields))
		for _, f := range ft.Fields {
			out[f.Name] = sample(f.Type, r, depth+1)
		}
		return out
	}
	panic(fmt.Sprintf("model: Sample: unknown kind %q", ft.Kind))
}

// SampleKey is the text (as ParseKey reads it) of the k-th of a set of
// distinct keys of the type, for workloads that write and read a bounded
// set of objects: text columns are "k<k>", numbers k, and the other
// kinds a value derived from k. Keys that share their first column's text
// share a bucket, so a Customer and its Orders ("k3" and "k3,k3") live
// together.
func (t *Type) SampleKey(k int) string {
	cols := t.keyColumns()
	parts := make([]string, len(cols))
	for i, col := range cols {
		switch col.Kind {
		case Int:
			parts[i] = strconv.Itoa(k)
		case Float:
			parts[i] = strconv.Itoa(k) + ".5"
		case Decimal:
			parts[i] = strconv.Itoa(k) + ".25"
		case Bool:
			parts[i] = strconv.FormatBool(k%2 == 1)
		case Timestamp:
			parts[i] = time.Date(2026, 1, 1, 0, 0, k, 0, time.UTC).Format(time.RFC3339Nano)
		case Enum:
			parts[i] = col.Values[k%len(col.Values)]
		case Bytes:
			parts[i] = base64.StdEncoding.EncodeToString([]byte("k" + strconv.Itoa(k)))
		default:
			parts[i] = "k" + strconv.Itoa(k)
		}
	}
	return strings.Join(parts, ",")
}
