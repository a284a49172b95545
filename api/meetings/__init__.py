"""Council meetings: where they come from (sources) and which are in scope."""
