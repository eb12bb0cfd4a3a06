"""The pure detection core: the event contract, store state and views, facts, features, models, detectors, ordering and tuning; imports neither redis, faust, aiokafka nor kafka."""
