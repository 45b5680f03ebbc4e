package runner

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/scenarios/scenario"
	"github.com/shoaldb/shoal/simnet/harness"
)

// objectsRun runs a small scenario with objects and a model change, whose
// model check is valid; the tests below break its trace in the ways the
// check exists to catch.
func objectsRun(t *testing.T) (*scenario.Scenario, []env.Record) {
	t.Helper()
	s := parse(t, `name: objects
cluster: {instances: 3, model: example}
workload:
  - {kind: objects, clients: 2, keys: 2, rate: 40, mix: {read: 1, write: 2}}
  - {kind: model, at: 3s, model: example-next, target: n1}
duration: 6s
final: {recover: 2s}
`)
	o := mustRun(t, s, 1)
	if r := result(t, o, scenario.CheckModel); r.Verdict != checker.Valid {
		t.Fatalf("the model check says %s: %s", r.Verdict, r.Explanation)
	}
	return s, o.Records
}

// set replaces (or adds) a field of a record.
func set(r *env.Record, f env.Field) {
	fields := slices.Clone(r.Fields)
	for i := range fields {
		if fields[i].Key == f.Key {
			fields[i] = f
			r.Fields = fields
			return
		}
	}
	r.Fields = append(fields, f)
}

func str(r *env.Record, key string) string { v, _ := r.Str(key); return v }

func isFinalObjectRead(r *env.Record) bool {
	p, _ := r.Int("process")
	return r.Kind == "client.ok" && str(r, "f") == "read-object" && p > harness.FinalReadProcess
}

// finalReads are the indexes of the final object reads of the first label
// that has one with an object.
func finalReads(recs []env.Record) (label string, idx []int) {
	for i := range recs {
		if isFinalObjectRead(&recs[i]) {
			if absent, _ := recs[i].Bool("absent"); !absent && label == "" {
				label = str(&recs[i], "key")
			}
		}
	}
	for i := range recs {
		if isFinalObjectRead(&recs[i]) && str(&recs[i], "key") == label {
			idx = append(idx, i)
		}
	}
	return label, idx
}

func TestCheckModelCatches(t *testing.T) {
	s, base := objectsRun(t)
	next, err := model.Parse("next", scenario.ModelSource("example-next"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		breakIt func(t *testing.T, recs []env.Record) []env.Record
		verdict checker.Verdict
		want    string
	}{
		{"one replica differs", func(t *testing.T, recs []env.Record) []env.Record {
			_, idx := finalReads(recs)
			r := &recs[idx[len(idx)-1]]
			set(r, env.Str("value", strings.Replace(str(r, "value"), `"`, `"x`, 1)))
			return recs
		}, checker.Invalid, "reads differently"},
		{"an old version", func(t *testing.T, recs []env.Record) []env.Record {
			_, idx := finalReads(recs)
			for _, i := range idx {
				set(&recs[i], env.Int("version", 1))
			}
			return recs
		}, checker.Invalid, "reads at version 1"},
		{"no such write", func(t *testing.T, recs []env.Record) []env.Record {
			label, _ := finalReads(recs)
			return slices.DeleteFunc(recs, func(r env.Record) bool {
				return strings.HasPrefix(r.Kind, "client.") && str(&r, "f") == "write-object" && str(&r, "key") == label
			})
		}, checker.Invalid, "no upgrade of any object written"},
		{"a completion never invoked", func(t *testing.T, recs []env.Record) []env.Record {
			label, _ := finalReads(recs)
			return slices.DeleteFunc(recs, func(r env.Record) bool {
				return r.Kind == "client.invoke" && str(&r, "f") == "write-object" && str(&r, "key") == label
			})
		}, checker.Unknown, "never invoked"},
		{"a lost acknowledged write", func(t *testing.T, recs []env.Record) []env.Record {
			// Another object, written and acknowledged after every write
			// of the value read had ended, just before the final reads.
			label, idx := finalReads(recs)
			typ, _, _ := strings.Cut(label, "/")
			ty, _ := next.Type(typ)
			obj := ty.Sample(1, rand.New(rand.NewPCG(7, 7)))
			var last *env.Record
			for i := range recs {
				if recs[i].Kind == "client.invoke" && str(&recs[i], "f") == "write-object" && str(&recs[i], "key") == label {
					last = &recs[i]
				}
			}
			if _, err := ty.SetKey(obj, strings.TrimPrefix(label, typ+"/")); err != nil {
				t.Fatal(err)
			}
			at := recs[idx[0]].Time - 2
			invoke := env.Record{Time: at, Node: "c9", Kind: "client.invoke", Fields: slices.Clone(last.Fields)}
			set(&invoke, env.Int("process", 999))
			set(&invoke, env.Int("seq", 1))
			set(&invoke, env.Str("value", string(model.Encode(obj))))
			set(&invoke, env.Int("version", 1))
			ok := env.Record{Time: at + 1, Node: "c9", Kind: "client.ok", Fields: slices.Clone(invoke.Fields)}
			recs = slices.Insert(recs, idx[0], invoke, ok)
			return recs
		}, checker.Invalid, "was lost"},
		{"instances end with different models", func(t *testing.T, recs []env.Record) []env.Record {
			for i := range recs {
				if recs[i].Kind == "model.state" {
					set(&recs[i], env.Str("digest", "0000000000000000"))
					break
				}
			}
			return recs
		}, checker.Invalid, "different models"},
		{"no final reads", func(t *testing.T, recs []env.Record) []env.Record {
			return slices.DeleteFunc(recs, func(r env.Record) bool {
				p, _ := r.Int("process")
				return str(&r, "f") == "read-object" && p > harness.FinalReadProcess
			})
		}, checker.Unknown, "no object was read back"},
		{"the change never accepted", func(t *testing.T, recs []env.Record) []env.Record {
			return slices.DeleteFunc(recs, func(r env.Record) bool { return r.Kind == "prop.result" && str(&r, "id") == "w2m" })
		}, checker.Unknown, "never accepted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs := slices.Clone(base)
			got := CheckModel(s, tc.breakIt(t, recs))
			if got.Verdict != tc.verdict || !strings.Contains(got.Explanation, tc.want) {
				t.Errorf("%s: %s, want %s naming %q", got.Verdict, got.Explanation, tc.verdict, tc.want)
			}
		})
	}
}
