// Command builtin-tools is the Go twin of the Python SDK's built-in tools
// example: a session with the builtin and shell tool families enabled.
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/mobd-dev/mobd/rpc"
)

func main() {
	ctx := context.Background()
	client, err := rpc.Connect(ctx, rpc.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	session, err := client.CreateSession(ctx,
		rpc.Text("Create a file called hello.txt with 'Hello World' in it"),
		rpc.SessionOptions{EnableBuiltins: true, EnableShell: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Response: %s\n", session.Text())
	fmt.Printf("Tool calls made: %d\n", session.ToolCalls())
	if err := session.Archive(ctx); err != nil {
		log.Fatal(err)
	}
}
