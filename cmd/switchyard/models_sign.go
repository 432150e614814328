package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/switchyard-ai/switchyard/internal/bundle"
)

// keygenCmd prints a new Ed25519 key pair for signing bundles.
func (f *modelsFlags) keygenCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "keygen",
		Short: "Print a new Ed25519 key pair for signing bundles (public for models.signing_public_keys, private for models sign)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pub, priv, err := bundle.GenerateKey()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "public:  %s\nprivate: %s\n", pub, priv)
			return nil
		},
	}
}

// signCmd signs a bundle directory before it is published.
func (f *modelsFlags) signCmd() *cobra.Command {
	var dir, keyEnv string
	cmd := &cobra.Command{
		Use:   "sign --dir BUNDLE [--key-env SWITCHYARD_SIGNING_KEY]",
		Short: "Sign a bundle's manifest with an Ed25519 key (writes manifest.sig; publish it with the bundle)",
		Long: `Sign writes BUNDLE/manifest.sig, an Ed25519 signature of manifest.json, which
records the payload's sha256. Gateways whose config lists the public key under
models.signing_public_keys load only versions signed by one of their keys.
The private key (base64, from "models keygen") is read from an environment
variable, never from a flag.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return errors.New("models sign: --dir is required")
			}
			raw := os.Getenv(keyEnv)
			if raw == "" {
				return fmt.Errorf("models sign: $%s is empty; put the base64 private key there", keyEnv)
			}
			key, err := bundle.ParsePrivateKey(raw)
			if err != nil {
				return fmt.Errorf("models sign: $%s: %w", keyEnv, err)
			}
			if err := bundle.Sign(dir, key); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "signed %s\n", dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "bundle directory")
	cmd.Flags().StringVar(&keyEnv, "key-env", "SWITCHYARD_SIGNING_KEY", "environment variable holding the private key")
	return cmd
}
