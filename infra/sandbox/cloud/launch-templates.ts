import { createHash } from 'node:crypto';
import { ApiError } from '../aws/protocol';

/** What a node booted from an image gets besides the AMI's own configuration. */
export interface NodeImage {
  /** extra lines written to the node's etc/conf.d/50-image.conf */
  rabbitmqConf?: string;
  /** another Erlang cookie than the cluster's: nodes of such an image cannot join it */
  erlangCookie?: string;
}

/** LaunchTemplateData as the sandbox keeps it: only ImageId matters; the rest is kept and echoed. */
export interface LaunchTemplateData {
  imageId?: string;
  instanceType?: string;
  [member: string]: unknown;
}

export interface LaunchTemplateVersion {
  templateId: string;
  templateName: string;
  versionNumber: number;
  description?: string;
  createdAt: number;
  data: LaunchTemplateData;
}

export interface LaunchTemplate {
  id: string;
  name: string;
  createdAt: number;
  defaultVersion: number;
  versions: LaunchTemplateVersion[];
}

/** A template named by id or name, and a version: a number, $Latest or $Default (AWS's default). */
export interface LaunchTemplateRef {
  id?: string;
  name?: string;
  version?: string;
}

/** A version as a launch uses it: the version as given (reported back) and the number it meant then. */
export interface ResolvedLaunchTemplate {
  id: string;
  name: string;
  version: string;
  versionNumber: number;
  imageId?: string;
}

/** The AMI every sandbox instance boots from unless a launch template says otherwise: the AMI's own configuration. */
export const BASE_IMAGE_ID = 'ami-0a1b2c3d4e5f60718';
/** The instance type the sandbox reports; the machines are RabbitMQ nodes whatever it says. */
export const BASE_INSTANCE_TYPE = 't3.medium';

/**
 * EC2 launch templates of one region and the images they can name. An image is what a node booted
 * from it gets (NodeImage); registering the same image twice gives the same id, as its id is a hash of it.
 */
export class LocalLaunchTemplates {
  private readonly templates = new Map<string, LaunchTemplate>();
  private readonly images = new Map<string, NodeImage>([[BASE_IMAGE_ID, {}]]);

  constructor(private readonly now: () => number = Date.now) {}

  /** Adds an image to the catalogue; returns its AMI id (ami- and 17 hex digits of a hash of the spec). */
  registerImage(spec: NodeImage): string {
    const canonical = JSON.stringify({ rabbitmqConf: spec.rabbitmqConf ?? null, erlangCookie: spec.erlangCookie ?? null });
    const id = `ami-${createHash('sha256').update(canonical).digest('hex').slice(0, 17)}`;
    if (!this.images.has(id)) this.images.set(id, { ...spec });
    return id;
  }

  /** What a node booted from this image gets; undefined for an image nobody registered. */
  image(imageId: string): NodeImage | undefined {
    const image = this.images.get(imageId);
    return image && { ...image };
  }

  /** CreateLaunchTemplate: version 1, the default, with the given data. */
  createLaunchTemplate(request: { name: string; data: LaunchTemplateData; description?: string }): LaunchTemplate {
    if ([...this.templates.values()].some((template) => template.name === request.name)) {
      throw new ApiError('InvalidLaunchTemplateName.AlreadyExistsException', `Launch template name already in use.`);
    }
    const id = `lt-${createHash('sha256').update(request.name).digest('hex').slice(0, 17)}`;
    const createdAt = this.now();
    const template: LaunchTemplate = { id, name: request.name, createdAt, defaultVersion: 1, versions: [] };
    template.versions.push({
      templateId: id,
      templateName: request.name,
      versionNumber: 1,
      description: request.description,
      createdAt,
      data: { ...request.data },
    });
    this.templates.set(id, template);
    return copyOf(template);
  }

  /** CreateLaunchTemplateVersion: the source version's data (if named) overlaid with the given data; never the default. */
  createVersion(request: { id?: string; name?: string; sourceVersion?: string; data: LaunchTemplateData; description?: string }): LaunchTemplateVersion {
    const template = this.find(request);
    const source = request.sourceVersion === undefined ? undefined : this.pick(template, request.sourceVersion);
    const version: LaunchTemplateVersion = {
      templateId: template.id,
      templateName: template.name,
      versionNumber: template.versions.length + 1,
      description: request.description,
      createdAt: this.now(),
      data: { ...source?.data, ...request.data },
    };
    template.versions.push(version);
    return { ...version, data: { ...version.data } };
  }

  /** One template, by id or name. */
  template(ref: { id?: string; name?: string }): LaunchTemplate {
    return copyOf(this.find(ref));
  }

  /** ModifyLaunchTemplate's SetDefaultVersion. */
  setDefaultVersion(ref: { id?: string; name?: string }, version: string): LaunchTemplate {
    const template = this.find(ref);
    template.defaultVersion = this.pick(template, version).versionNumber;
    return copyOf(template);
  }

  /** DescribeLaunchTemplates: every template, or those named (an unknown name or id is an error, as in EC2). */
  describe(ref?: { ids?: string[]; names?: string[] }): LaunchTemplate[] {
    const asked = [...(ref?.ids ?? []).map((id) => ({ id })), ...(ref?.names ?? []).map((name) => ({ name }))];
    return (asked.length > 0 ? asked.map((one) => this.find(one)) : [...this.templates.values()]).map(copyOf);
  }

  /** DescribeLaunchTemplateVersions of one template: the versions asked for ($Latest, $Default, numbers), or all. */
  versions(ref: { id?: string; name?: string }, selectors: string[] = []): LaunchTemplateVersion[] {
    const template = this.find(ref);
    const picked = selectors.length === 0 ? template.versions : [...new Set(selectors.map((selector) => this.pick(template, selector)))];
    return picked.map((version) => ({ ...version, data: { ...version.data } }));
  }

  /** The version a launch uses now; $Latest and $Default are read at the time of the launch. */
  resolve(ref: LaunchTemplateRef): ResolvedLaunchTemplate {
    const template = this.find(ref);
    const version = ref.version ?? '$Default';
    const picked = this.pick(template, version);
    return { id: template.id, name: template.name, version, versionNumber: picked.versionNumber, imageId: picked.data.imageId };
  }

  private find(ref: { id?: string; name?: string }): LaunchTemplate {
    if (ref.id !== undefined && ref.name !== undefined) {
      throw new ApiError('InvalidParameterCombination', 'You can specify either a launch template ID or a launch template name in the request, but not both.');
    }
    if (ref.id !== undefined) {
      const template = this.templates.get(ref.id);
      if (!template) throw new ApiError('InvalidLaunchTemplateId.NotFound', `The specified launch template, with template ID ${ref.id}, does not exist.`);
      return template;
    }
    if (ref.name !== undefined) {
      const template = [...this.templates.values()].find((candidate) => candidate.name === ref.name);
      if (!template)
        throw new ApiError('InvalidLaunchTemplateName.NotFoundException', `The specified launch template, with template name ${ref.name}, does not exist.`);
      return template;
    }
    throw new ApiError('MissingParameter', 'The request must contain the parameter launchTemplateName or launchTemplateId');
  }

  private pick(template: LaunchTemplate, selector: string): LaunchTemplateVersion {
    const number = selector === '$Latest' ? template.versions.length : selector === '$Default' ? template.defaultVersion : Number(selector);
    const version = Number.isInteger(number) ? template.versions[number - 1] : undefined;
    if (!version) {
      throw new ApiError(
        'InvalidLaunchTemplateId.VersionNotFound',
        `Could not find launch template version ${selector} for launch template with ID ${template.id}.`,
      );
    }
    return version;
  }
}

function copyOf(template: LaunchTemplate): LaunchTemplate {
  return { ...template, versions: template.versions.map((version) => ({ ...version, data: { ...version.data } })) };
}
