#!/usr/bin/env bash
# Builds the `resnet` command and trains with its defaults; extra arguments go to `resnet train`
# (see `resnet train --help`).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$repo_root"

dotnet build src/ResNet/Cli/ResNet.Cli.csproj -c Release -nologo -v quiet
exec dotnet src/ResNet/Cli/bin/Release/net10.0/resnet.dll train "$@"
