"""Where a Snapshot comes from: a recorded file, the live API, or plain manifests."""
