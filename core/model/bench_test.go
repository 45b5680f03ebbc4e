package model

import (
	"math/rand/v2"
	"testing"
)

// The costs a replicaset leader pays per object write (validate, upgrade,
// key and index entries, encode) and a reader per upgrade on read, on the
// example models: go test ./core/model -bench . -benchmem

func benchObject(b *testing.B, typ string, version int) (*Type, []byte) {
	m, err := Parse("model-next.yaml", exampleFile(b, "model-next.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	t := mustType(b, m, typ)
	return t, Encode(t.Sample(version, rand.New(rand.NewPCG(1, 2))))
}

func BenchmarkParseExample(b *testing.B) {
	src := exampleFile(b, "model-next.yaml")
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, err := Parse("model-next.yaml", src); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateCustomer(b *testing.B) { benchValidate(b, "Customer", 1) }
func BenchmarkValidateOrder(b *testing.B)    { benchValidate(b, "Order", 1) }

func benchValidate(b *testing.B, typ string, version int) {
	t, data := benchObject(b, typ, version)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := t.Validate(version, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteCustomerV1 is the leader's whole work for a Customer
// written at version 1 under a model whose latest is 3.
func BenchmarkWriteCustomerV1(b *testing.B) {
	t, data := benchObject(b, "Customer", 1)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		obj, err := t.Validate(1, data)
		if err == nil {
			obj, err = t.Upgrade(1, obj)
		}
		if err == nil {
			_, err = t.PrimaryKey(obj)
		}
		if err == nil {
			_, err = t.IndexEntries(obj)
		}
		if err != nil {
			b.Fatal(err)
		}
		Encode(obj)
	}
}

// BenchmarkReadUpgradeOrderV1 is a read of an Order stored at version 1
// under a model whose latest is 2: decode, upgrade, encode.
func BenchmarkReadUpgradeOrderV1(b *testing.B) {
	t, data := benchObject(b, "Order", 1)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		obj, err := Decode(data)
		if err == nil {
			obj, err = t.Upgrade(1, obj)
		}
		if err != nil {
			b.Fatal(err)
		}
		Encode(obj)
	}
}
