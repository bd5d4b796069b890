// Command capabilities is the Go twin of the Python SDK's capabilities
// example: list what the runtime offers and guard a code path on it.
package main

import (
	"context"
	"errors"
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

	fmt.Println("Available capabilities:")
	for _, c := range client.Capabilities() {
		if c.Available() {
			fmt.Printf("  %s: %s\n", c.ID, c.Description)
		}
	}

	if client.HasCapability("skills") {
		fmt.Println("Skills are available")
	}

	if err := client.RequireCapability("comms"); err != nil {
		if errors.Is(err, rpc.ErrCapabilityUnavailable) {
			fmt.Printf("Comms not available: %v\n", err)
			return
		}
		log.Fatal(err)
	}
	fmt.Println("Comms capability confirmed")
}
