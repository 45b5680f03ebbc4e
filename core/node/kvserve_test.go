package node

import (
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/core/store"
	"github.com/shoaldb/shoal/simnet"
)

// listModel is Item with an index on age, the model the tests' objects
// were written under.
const listModel = `
types:
  Item:
    key: [id]
    indexes:
      - {name: by_age, fields: [age]}
    versions:
      - version: 1
        fields:
          id: string
          age: int?
`

// listNode is a node with only what listObjects reads: the cluster's
// models (none when sources is empty, else one revision each, the last
// in force) and replicaset rs1's machine holding items i1 (age 2), i2
// (age 1) and i3 (no age).
func listNode(t *testing.T, sources ...string) (*Node, *group) {
	t.Helper()
	w, err := simnet.New(simnet.Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	var m *kv.Machine
	err = w.AddNode("n1", func(e env.Env) (env.Node, error) {
		st, err := store.Open(e, "data")
		if err != nil {
			return nil, err
		}
		m, err = kv.Open(st, 1)
		return quietNode{}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	written, err := model.Parse("model.yaml", []byte(listModel))
	if err != nil {
		t.Fatal(err)
	}
	typ, _ := written.Type("Item")
	for i, js := range []string{`{"id":"i1","age":2}`, `{"id":"i2","age":1}`, `{"id":"i3","age":null}`} {
		obj, err := typ.Validate(1, []byte(js))
		if err != nil {
			t.Fatal(err)
		}
		pk, err := typ.PrimaryKey(obj)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := typ.IndexEntries(obj)
		if err != nil {
			t.Fatal(err)
		}
		var ixs []kv.IndexEntry
		for _, e := range entries {
			ixs = append(ixs, kv.IndexEntry{Index: e.Index, Key: e.Key, Unique: e.Unique})
		}
		ow := &kv.ObjectWrite{Type: "Item", PK: pk, Version: 1, Value: model.Encode(obj), Indexes: ixs}
		r, err := m.Apply(uint64(i+1), kv.Command{Client: "c", Seq: uint64(i + 1), Op: kv.OpPutObject, Key: "route", Object: ow})
		if err != nil || r.Status != kv.StatusOK {
			t.Fatalf("writing %s: %+v, %v", js, r, err)
		}
	}
	conf := &cluster.Config{}
	for i, src := range sources {
		parsed, err := model.ParseWith("model.yaml", []byte(src), model.Options{AllowUnknownFuncs: true})
		if err != nil {
			t.Fatal(err)
		}
		conf.Models = append(conf.Models, cluster.ModelRevision{Revision: i + 1, Source: src, Digest: parsed.Digest()})
	}
	return &Node{conf: &configMachine{conf: conf}}, &group{name: "rs1", sm: dataMachine{m}}
}

type quietNode struct{}

func (quietNode) Receive(env.NodeID, env.Message) {}
func (quietNode) Handle(env.Event)                {}

// TestListObjectsRefusals pins listObjects's answers to requests it
// cannot serve as asked: an order by an index its model lacks (the
// asker's model has it first, or the cluster has no model or no such
// type yet) is a redirect to no one, to be tried again, as another
// version is; a position that is none of the order's is invalid; and
// the index it has lists.
func TestListObjectsRefusals(t *testing.T) {
	withoutIndex := strings.Replace(listModel, "    indexes:\n      - {name: by_age, fields: [age]}\n", "", 1)
	other := `
types:
  Other:
    key: [id]
    versions:
      - version: 1
        fields:
          id: string
`
	list := func(index, after string) *kv.ListRequest {
		return &kv.ListRequest{Replicaset: "rs1", Type: "Item", Index: index, After: after, Limit: 10, Scan: 100}
	}
	exact := func(index, key string) *kv.ListRequest {
		l := list(index, "")
		l.Exact, l.Key = true, key
		return l
	}
	for _, c := range []struct {
		name    string
		models  []string
		req     *kv.ListRequest
		status  kv.Status
		error   string // in the answer's Error
		listing []string
	}{
		{"by the index", []string{listModel}, list("by_age", ""), kv.StatusOK, "", []string{"i2", "i1", "i3"}},
		{"by key without a model", nil, list("", ""), kv.StatusOK, "", []string{"i1", "i2", "i3"}},
		{"an index the model lacks", []string{withoutIndex}, list("by_age", ""), kv.StatusRedirect, "which this instance's model does not have", nil},
		{"an index the model does not have yet", []string{withoutIndex}, list("by_note", ""), kv.StatusRedirect, "by_note", nil},
		{"no data model", nil, list("by_age", ""), kv.StatusRedirect, "which this instance's model does not have", nil},
		{"no such type", []string{other}, list("by_age", ""), kv.StatusRedirect, "which this instance's model does not have", nil},
		{"a bad phase", []string{listModel}, list("by_age", "\x09i1"), kv.StatusInvalid, "list-objects: after:", nil},
		{"a malformed index key", []string{listModel}, list("by_age", "\x01\x02"), kv.StatusInvalid, "a malformed index key", nil},
		{"one key of the index", []string{listModel}, exact("by_age", model.EncodeKey(int64(2))), kv.StatusOK, "", []string{"i1"}},
		{"one key of an index the model lacks", []string{withoutIndex}, exact("by_age", model.EncodeKey(int64(2))), kv.StatusRedirect, "by_age", nil},
		{"a key without exact", []string{listModel}, &kv.ListRequest{Replicaset: "rs1", Type: "Item", Index: "by_age", Key: "k", Limit: 1},
			kv.StatusInvalid, "an index key without Exact", nil},
		{"an exact key without an index", []string{listModel}, &kv.ListRequest{Replicaset: "rs1", Type: "Item", Exact: true, Limit: 1},
			kv.StatusInvalid, "an exact index key without an index", nil},
		{"a position too long", []string{listModel}, list("", strings.Repeat("k", kv.MaxListPosition+1)), kv.StatusInvalid, "list-objects: after:", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, g := listNode(t, c.models...)
			r := n.listObjects(g, c.req, 7)
			if r.Status != c.status || !strings.Contains(r.Error, c.error) || r.Index != 7 {
				t.Fatalf("answered %s %q (index %d), want %s with %q", r.Status, r.Error, r.Index, c.status, c.error)
			}
			if c.status != kv.StatusOK {
				if r.List != nil {
					t.Errorf("a refusal with a page: %+v", r.List)
				}
				return
			}
			var pks []string
			for _, rec := range r.List.Objects {
				pks = append(pks, rec.PK)
			}
			for i, id := range c.listing {
				c.listing[i] = model.EncodeKey(id)
			}
			if strings.Join(pks, ",") != strings.Join(c.listing, ",") || r.List.Replicaset != "rs1" {
				t.Errorf("listed %q in %s, want %q in rs1", pks, r.List.Replicaset, c.listing)
			}
		})
	}
}

// The migration rewrites an object at the latest version whose
// non-unique entries are not the model's (an index added without a new
// version), and not one that differs only in a unique entry, which a
// change from another cluster may have taken.
func TestEntriesCurrent(t *testing.T) {
	src := strings.Replace(listModel, "      - {name: by_age, fields: [age]}\n",
		"      - {name: by_age, fields: [age]}\n      - {name: by_id, fields: [id], unique: true}\n", 1)
	m, err := model.Parse("m.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	typ, _ := m.Type("Item")
	age := kv.IndexEntry{Index: "by_age", Key: model.EncodeKey(int64(2))}
	id := kv.IndexEntry{Index: "by_id", Key: model.EncodeKey("i1"), Unique: true}
	rec := func(value string, es ...kv.IndexEntry) kv.ObjectRecord {
		return kv.ObjectRecord{Type: "Item", PK: model.EncodeKey("i1"), Version: 1, Value: []byte(value), Indexes: es}
	}
	for _, c := range []struct {
		name string
		rec  kv.ObjectRecord
		want bool
	}{
		{"as the model gives them", rec(`{"id":"i1","age":2}`, age, id), true},
		{"an index added since", rec(`{"id":"i1","age":2}`, id), false},
		{"an entry of another key", rec(`{"id":"i1","age":2}`, kv.IndexEntry{Index: "by_age", Key: model.EncodeKey(int64(3))}, id), false},
		{"a null: no entry", rec(`{"id":"i1","age":null}`, id), true},
		{"only its unique entry missing", rec(`{"id":"i1","age":2}`, age), true},
	} {
		if got := entriesCurrent(typ, c.rec); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
