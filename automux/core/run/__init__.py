"""Running a spec: the worker and its job files, the executor that enforces deadlines, execute / verify / leaderboard, prediction, the run store."""
