module github.com/shoaldb/shoal

go 1.26
