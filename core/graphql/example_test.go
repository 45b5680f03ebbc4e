package graphql

import (
	"fmt"
	"os"

	"github.com/shoaldb/shoal/core/model"
)

func ExampleExecute() {
	data, _ := os.ReadFile("testdata/model.yaml")
	m, _ := model.Parse("model.yaml", data)
	s, _ := NewSchema(m)
	d := newMem() // the caller's Data: the cluster, or memory as here
	Execute(Request{Schema: s, Data: d, Query: `mutation {
		insertCustomer(object: {id: "c1", first_name: "Ada", last_name: "L", created: "2024-01-01T00:00:00Z", tier: gold, newsletter: true}) { id }
	}`})
	resp := Execute(Request{
		Schema:    s,
		Data:      d,
		Query:     `query($t: Customer_tier) { Customers(where: {tier: {eq: $t}}, first: 10) { edges { node { id tier _revision } } pageInfo { hasNextPage } } }`,
		Variables: map[string]any{"t": "gold"},
		Limits:    Limits{MaxDepth: 8, MaxCost: 1000},
	})
	fmt.Println(string(resp.Data))
	// Output: {"Customers":{"edges":[{"node":{"id":"c1","tier":"gold","_revision":1}}],"pageInfo":{"hasNextPage":false}}}
}
