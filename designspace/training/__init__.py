"""The training stage: schedules (schedule, torch-free), dataset readers (data) and the trainer (trainer)."""
