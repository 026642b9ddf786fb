"""Placeholder, replaced by the real filter."""


class MultiStoreFilter:
    def __init__(self, app, conf=None):
        self.app = app

    @classmethod
    def factory(cls, global_conf, **local_conf):
        def _filter(app):
            return cls(app, local_conf)
        return _filter

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)
