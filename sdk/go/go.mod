module github.com/hermhq/herm/sdk/go

go 1.26.0
