"""Your own photos: pose estimation (MediaPipe), photo datasets, one photo in a new pose, the pose2sim mini set."""
