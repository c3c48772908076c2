#!/usr/bin/env bash
# Builds the `resnet` command and trains with its defaults; extra arguments go to `resnet train`
# (see `resnet train --help`).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# Training runs from the repository root: make a relative SIGNS_DIR absolute first.
if [ -n "${SIGNS_DIR:-}" ] && [ -d "$SIGNS_DIR" ]; then
  SIGNS_DIR="$(cd "$SIGNS_DIR" && pwd)"
  export SIGNS_DIR
fi
cd "$repo_root"

dotnet build src/ResNet/Cli/ResNet.Cli.csproj -c Release -nologo -v quiet
exec dotnet src/ResNet/Cli/bin/Release/net10.0/resnet.dll train "$@"
