#!/bin/sh
# Regenerates the manifest fixtures: every *.dts here compiled as capmon-tool compiles
# manifests (capmon::cvm::manifest::DTC_FLAGS), plus `-E no-name_is_string` so that fixtures can
# hold the malformed `name` values the parser must reject. The test
# `manifest::tests::fixtures_are_up_to_date` checks the committed blobs against this.
set -eu
cd "$(dirname "$0")"
for dts in *.dts; do
    dtc -I dts -O dtb -b 0 -W no-unit_address_vs_reg -E no-name_properties -E no-name_is_string \
        -o "${dts%.dts}.dtb" "$dts"
done
