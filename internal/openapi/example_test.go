package openapi_test

import (
	"fmt"
	"os"

	"github.com/hermhq/herm/internal/openapi"
)

type Greeting struct {
	Text string  `json:"text" doc:"The greeting."`
	To   *string `json:"to"`
}

func ExampleGenerate() {
	out, err := openapi.Generate(openapi.Document{
		Title:   "Greeter",
		Version: "1.0.0",
		Operations: []openapi.Operation{{
			Method: "GET", Path: "/v1/greetings/{name}", ID: "greet", Scope: "greet",
			Responses: []openapi.Response{{Status: 200, Body: Greeting{}}},
			Errors:    []int{404},
		}},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	fmt.Print(string(out))
	// Output:
	// openapi: 3.1.0
	// info:
	//   title: Greeter
	//   version: 1.0.0
	// security:
	//   - bearerAuth: []
	// paths:
	//   /v1/greetings/{name}:
	//     get:
	//       description: Requires an API key with the `greet` scope.
	//       operationId: greet
	//       security:
	//         - bearerAuth: [greet]
	//       x-required-scope: greet
	//       parameters:
	//         - name: name
	//           in: path
	//           required: true
	//           schema:
	//             type: string
	//       responses:
	//         "200":
	//           description: OK
	//           content:
	//             application/json:
	//               schema:
	//                 $ref: '#/components/schemas/Greeting'
	//         "404":
	//           $ref: '#/components/responses/NotFound'
	// components:
	//   schemas:
	//     Error:
	//       type: object
	//       required:
	//         - error
	//       properties:
	//         error:
	//           type: object
	//           required:
	//             - code
	//             - message
	//             - request_id
	//           properties:
	//             code:
	//               type: string
	//               description: A machine-readable error code; see the table of codes in the API description.
	//             message:
	//               type: string
	//               description: A human-readable description of the error.
	//             request_id:
	//               type: string
	//               description: The ID of the request, to quote to support.
	//     Greeting:
	//       type: object
	//       required:
	//         - text
	//         - to
	//       properties:
	//         text:
	//           type: string
	//           description: The greeting.
	//         to:
	//           type: [string, "null"]
	//   responses:
	//     NotFound:
	//       description: Not Found
	//       content:
	//         application/json:
	//           schema:
	//             $ref: '#/components/schemas/Error'
	//   securitySchemes:
	//     bearerAuth:
	//       type: http
	//       scheme: bearer
	//       bearerFormat: API key
	//       description: 'An API key, sent as `Authorization: Bearer <key>`. Each operation names the scope the key needs.'
}
