// Command switchyard is the gateway and its MLOps loop in one binary.
//
// Each subcommand lives in its own file and adds itself to the root in init.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

var rootCmd = &cobra.Command{
	Use:   "switchyard",
	Short: "An LLM gateway that learns how to route",
	Long: `Switchyard is an OpenAI-compatible LLM gateway that routes each prompt to the
model that answers it well enough at the lowest cost, and learns how from its own traces.`,
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	if err := rootCmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "switchyard:", err)
		os.Exit(1)
	}
}
