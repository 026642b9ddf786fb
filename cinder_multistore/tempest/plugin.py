# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""The tempest plugin of cinder-multistore (entry point
``tempest.test_plugins = cinder_multistore``).
"""

import os

from oslo_config import cfg
from tempest import config
from tempest.test_discover import plugins

from cinder_multistore.tempest import config as project_config


class MultiStoreTempestPlugin(plugins.TempestPlugin):
    """Placement of image data in Glance stores, seen through the APIs."""

    def load_tests(self) -> tuple[str, str]:
        """Return the test folder and the top level of the package."""
        base_path = os.path.split(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))))[0]
        test_dir = os.path.join('cinder_multistore', 'tempest')
        return os.path.join(base_path, test_dir), base_path

    def register_opts(self, conf: cfg.ConfigOpts) -> None:
        """Register the ``[multistore]`` and feature groups on ``conf``."""
        for group, opts in project_config.list_groups():
            conf.register_group(group)
            conf.register_opts(opts, group=group)

    def get_opt_lists(self) -> list[tuple[str, list[cfg.Opt]]]:
        """The plugin's options, by group name, for the sample config."""
        return [(group.name, opts)
                for group, opts in project_config.list_groups()]

    def get_service_clients(self) -> list[dict[str, object]]:
        """The image client that sends per-request placement headers."""
        params = config.service_client_config('image')
        params.update({
            'name': 'multistore_image',
            'service_version': 'multistore.image.v2',
            'module_path': 'cinder_multistore.tempest.services',
            'client_names': ['MultiStoreImagesClient'],
        })
        return [params]
