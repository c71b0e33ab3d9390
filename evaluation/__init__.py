"""Commands that measure the service: on generated pages (`make eval`), on real paper and
held-out writers (`make eval-real`), and the fits of its confidences. They sit above the
libraries (`segmentation`, `models`, `reading`) and the worker, and may use all of them."""
