package api_test

import (
	"fmt"
	"net/url"

	"github.com/shoaldb/shoal/core/api"
	"github.com/shoaldb/shoal/core/model"
)

// A listing of Products in stock that cost more than 10, two a page: the
// query as a URL carries it, an object matched, and the page merged from
// two replicasets' pages.
func ExampleParseQuery() {
	m, err := model.Parse("model.yaml", []byte(`types:
  Product:
    key: [sku]
    versions:
      - version: 1
        fields: {sku: string, price: decimal, stock: int}
`))
	if err != nil {
		panic(err)
	}
	product, _ := m.Type("Product")
	values, _ := url.ParseQuery("price[gt]=10&stock[ge]=1&limit=2")
	q, err := api.ParseQuery(product, values)
	if err != nil {
		panic(err)
	}
	fmt.Println(q.Match(model.Object{"sku": "p1", "price": "12.5", "stock": int64(3)}))
	fmt.Println(q.Match(model.Object{"sku": "p2", "price": "9.99", "stock": int64(3)}))

	// rs1 looked at every object after the cursor; rs2 stopped after p4.
	pages := []api.Page[string]{
		{Items: []string{"p1", "p7"}},
		{Items: []string{"p3"}, More: true, Last: "p4"},
	}
	pk := func(pk string) string { return pk }
	items, next, more, _ := api.Merge(q.Order.Desc, q.After, q.Limit, pages, pk, pk)
	fmt.Println(items, next, more)

	_, err = api.ParseQuery(product, url.Values{"price[gt]": {"ten"}})
	fmt.Println(err)
	// Output:
	// true
	// false
	// [p1 p3] p4 true
	// filter "price[gt]": "ten" is not a decimal
}
