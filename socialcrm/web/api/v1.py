"""temp."""
def setup(app):
    pass
